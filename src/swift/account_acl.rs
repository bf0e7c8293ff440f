//! Account ACLs (`X-Account-Access-Control`), as tempauth defines them: a
//! JSON object naming the users and accounts that get `admin`, `read-write`
//! or `read-only` access to a whole account. Stored in the account's metadata
//! under Swift's system-metadata name, shown to owners only.

use serde_json::Value;

pub use super::acl::Grant;
use super::auth::Identity;

/// Where the ACL lives in the account's metadata (Swift's sysmeta name).
pub const SYSMETA_KEY: &str = "X-Account-Sysmeta-Core-Access-Control";
/// The header clients set and owners read.
pub const HEADER: &str = "X-Account-Access-Control";

const KEYS: [&str; 3] = ["admin", "read-write", "read-only"];

/// Checks a client's ACL as tempauth does; `Err` holds tempauth's reason.
pub fn validate(data: &str) -> Result<(), String> {
    if data.is_empty() {
        return Ok(());
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(data) else {
        return Err(format!("Syntax error in input ({})", py_repr(data)));
    };
    for (k, v) in &map {
        if !KEYS.contains(&k.as_str()) {
            return Err(format!("Key {} not recognized", Value::from(k.as_str())));
        }
        let Value::Array(items) = v else {
            return Err(format!(
                "Value for key {} must be a list",
                Value::from(k.as_str())
            ));
        };
        if items.iter().any(|i| !i.is_string()) {
            return Err(format!(
                "Elements of {} list must be strings",
                Value::from(k.as_str())
            ));
        }
    }
    Ok(())
}

/// What the stored ACL grants `id` (the strongest matching grant), if anything.
pub fn grant(stored: Option<&str>, id: &Identity) -> Option<Grant> {
    let Some(Value::Object(map)) = stored.and_then(|s| serde_json::from_str(s).ok()) else {
        return None;
    };
    let groups = id.groups();
    let listed = |key: &str| {
        map.get(key).and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|m| m.as_str().is_some_and(|m| groups.contains(&m)))
        })
    };
    [
        ("admin", Grant::Admin),
        ("read-write", Grant::ReadWrite),
        ("read-only", Grant::ReadOnly),
    ]
    .into_iter()
    .find(|(k, _)| listed(k))
    .map(|(_, g)| g)
}

/// The header value owners see: compact JSON, keys sorted, ASCII only, as
/// Swift formats it; `None` for an empty or unreadable ACL.
pub fn display(stored: &str) -> Option<String> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(stored) else {
        return None;
    };
    if map.is_empty() {
        return None;
    }
    Some(ascii_json(&sorted(Value::Object(map))))
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        v => v,
    }
}

/// Compact JSON with every non-ASCII character written as `\uXXXX`.
fn ascii_json(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// Python's repr of a str, as tempauth quotes bad input in its message.
fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\'', "\\'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(user: &str) -> Identity {
        Identity {
            account: "AUTH_other".into(),
            user: user.into(),
            admin: false,
            reseller_admin: false,
            only_container: None,
            groups: Vec::new(),
            also_owns: Vec::new(),
            keystone: None,
        }
    }

    #[test]
    fn validation_follows_tempauth() {
        assert!(validate(r#"{"admin":["a:b"],"read-only":[]}"#).is_ok());
        assert!(validate("").is_ok());
        assert!(validate("yuck").unwrap_err().starts_with("Syntax error"));
        assert!(validate("[]").is_err());
        assert!(validate(r#"{"owner":["x"]}"#)
            .unwrap_err()
            .contains("\"owner\""));
        assert!(validate(r#"{"admin":"x"}"#)
            .unwrap_err()
            .contains("must be a list"));
        assert!(validate(r#"{"admin":[1]}"#)
            .unwrap_err()
            .contains("must be strings"));
    }

    #[test]
    fn strongest_grant_wins_and_accounts_match_all_users() {
        let acl = r#"{"read-only":["other"],"read-write":["other:bob"]}"#;
        assert_eq!(grant(Some(acl), &id("other:bob")), Some(Grant::ReadWrite));
        assert_eq!(grant(Some(acl), &id("other:eve")), Some(Grant::ReadOnly));
        assert_eq!(grant(Some(acl), &id("third:bob")), None);
        assert_eq!(grant(Some("garbage"), &id("other:bob")), None);
        assert_eq!(grant(None, &id("other:bob")), None);
    }

    #[test]
    fn display_is_sorted_compact_ascii() {
        assert_eq!(
            display("{\"read-only\": [\"x\"], \"admin\": [\"\u{e9}\"]}").unwrap(),
            "{\"admin\":[\"\\u00e9\"],\"read-only\":[\"x\"]}"
        );
        assert_eq!(display("{}"), None);
        assert_eq!(display("nope"), None);
    }
}
