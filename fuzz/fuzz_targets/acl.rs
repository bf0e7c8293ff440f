//! Container ACLs (`X-Container-Read` / `-Write`) and account ACLs
//! (`X-Account-Access-Control`): any text parses without a panic, and no ACL
//! ever lets an anonymous caller write, list without `.rlistings`, or own.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sofgate::swift::account_acl::{self, Grant};
use sofgate::swift::acl::{parse_acl, Access};
use sofgate::swift::auth::{authorize, validate_acl, Identity};
use sofgate_fuzz::fields;

fn user(name: &str) -> Identity {
    Identity {
        account: "AUTH_test2".into(),
        user: name.into(),
        admin: false,
        reseller_admin: false,
        only_container: None,
        groups: Vec::new(),
        also_owns: Vec::new(),
        keystone: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data, b'\n', 4);
    let text = |i: usize| f.get(i).and_then(|b| std::str::from_utf8(b).ok());
    let (Some(acl), referer) = (text(0), text(1)) else {
        return;
    };
    let _ = validate_acl(acl);
    let (referrers, groups) = parse_acl(acl);
    let items = acl.split(',').filter(|s| !s.trim().is_empty()).count();
    assert_eq!(referrers.len() + groups.len(), items);
    let who = text(2).unwrap_or("test2:tester");
    let id = user(who);
    for (is_object, writes) in [(true, false), (true, true), (false, false), (false, true)] {
        let a = Access {
            account: "AUTH_test",
            container: Some("c"),
            is_object,
            writes,
            acl: Some(acl),
            referer,
            grant: None,
        };
        match authorize(None, &a) {
            Ok(true) => panic!("anonymous owns with {acl:?}"),
            Ok(false) => {
                assert!(!writes, "anonymous write with {acl:?}");
                assert!(!referrers.is_empty());
                assert!(
                    is_object || groups.iter().any(|g| g == ".rlistings"),
                    "{acl:?}"
                );
            }
            Err(_) => {}
        }
        match authorize(Some(&id), &a) {
            Ok(true) => panic!("{who:?} owns AUTH_test with {acl:?}"),
            Ok(false) if writes => {
                let short = who.split(':').next().unwrap_or("");
                assert!(
                    groups.iter().any(|g| g == who || g == short),
                    "{who:?} writes with {acl:?}"
                );
            }
            _ => {}
        }
    }
    // Account ACLs: JSON from the client, or as stored.
    if let Some(stored) = text(3) {
        let valid = account_acl::validate(stored).is_ok();
        let g = account_acl::grant(Some(stored), &id);
        if let Some(shown) = account_acl::display(stored) {
            assert!(shown.is_ascii(), "{shown:?}");
            if valid {
                // Lists of strings only (numbers need not print back the
                // same: serde_json's shortest float form may parse 1 ulp off).
                assert_eq!(
                    account_acl::display(&shown).as_deref(),
                    Some(shown.as_str())
                );
                assert!(account_acl::validate(&shown).is_ok(), "{shown:?}");
            }
        }
        if let Some(g) = g {
            let key = match g {
                Grant::Admin => "admin",
                Grant::ReadWrite => "read-write",
                Grant::ReadOnly => "read-only",
            };
            let v: serde_json::Value = serde_json::from_str(stored).unwrap_or_default();
            let listed = v[key].as_array().is_some_and(|a| {
                a.iter()
                    .any(|m| id.groups().iter().any(|g| m.as_str() == Some(*g)))
            });
            assert!(listed, "{g:?} for {who:?} from {stored:?}");
        }
    }
});
