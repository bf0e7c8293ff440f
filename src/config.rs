//! The one TOML configuration file, and the embedded default used when none
//! is given (a local `./data` device and the classic tempauth test users,
//! with a token secret generated on the device at first start).

use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod keystone;
pub mod ops;
pub use keystone::KeystoneConfig;
pub use ops::{HealthConfig, LogConfig, LogFormat, MetricsConfig};

/// Everything sofgate reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Storage policies; the first with `default = true` (else the first) is
    /// the default.
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyConfig>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub cors: CorsConfig,
    #[serde(default)]
    pub domain_remap: DomainRemapConfig,
    #[serde(default)]
    pub etag_quoter: EtagQuoterConfig,
    #[serde(default)]
    pub s3: S3Config,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub scrub: ScrubConfig,
    /// Keystone authentication beside tempauth; absent: off.
    #[serde(default)]
    pub keystone: Option<KeystoneConfig>,
    /// The access log.
    #[serde(default)]
    pub log: LogConfig,
    /// `/healthcheck`.
    #[serde(default)]
    pub health: HealthConfig,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Which of the Swift API's features are on.
    #[serde(default)]
    pub features: FeaturesConfig,
}

/// `[features]`: every feature is on unless named in `off` (by the names
/// of Swift's middleware and `/info`: tempurl, formpost, bulk, staticweb,
/// symlink, slo, dlo, versioned_writes, object_versioning,
/// container_quotas, account_quotas, etag_quoter).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    pub off: Vec<String>,
}

/// The S3 door (src/s3): requests that carry AWS authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Answer requests signed with AWS SigV4 or SigV2 on the same port
    /// (else they go to the Swift API, which refuses them: 401).
    pub enabled: bool,
    /// The region clients sign for (`us-east-1`, as Swift's s3api `location`).
    pub region: String,
    /// Domains under which `<bucket>.<domain>` names a bucket (virtual-hosted
    /// style); empty: path style only.
    pub domain: Vec<String>,
    /// Seconds a multipart upload may go without a part stored before the
    /// temp sweep removes it with its parts (S3's abandoned uploads).
    pub upload_reap_after_secs: u64,
    /// Seconds a CompleteMultipartUpload may take before its answer starts:
    /// past them it is a 200 whose body keeps the connection alive with a
    /// space every as many seconds (at least 1) until the result's XML or
    /// the error's, as S3 does (0: from the start).
    pub complete_heartbeat_secs: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            enabled: true,
            region: "us-east-1".into(),
            domain: Vec::new(),
            upload_reap_after_secs: 7 * 24 * 3600,
            complete_heartbeat_secs: 10,
        }
    }
}

/// Connections: how long a client may take, how many may be open, how a
/// stop ends them. Swift's defaults where Swift has them (`client_timeout`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Seconds a client has to send a whole request head, from its first byte
    /// (a new connection that sends nothing is closed after this too).
    pub header_timeout_secs: u64,
    /// Seconds a request body may pause (the request gets 408) and a
    /// response may wait for the client to read (the connection is dropped).
    pub client_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept open.
    pub keepalive_timeout_secs: u64,
    /// Open connections at most; beyond, a new one is answered 503 and
    /// closed. Lowered at start to what the open-file limit allows.
    pub max_connections: usize,
    /// Seconds in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Threads of the pool that runs filesystem calls.
    pub max_blocking_threads: usize,
    /// Async worker threads (0: one per core). The quick read path runs its
    /// filesystem calls on them: on a network mount, where each call waits
    /// for a round trip, more workers keep more calls in flight.
    pub worker_threads: usize,
    /// KiB of each connection's read buffer, which bounds a request's head
    /// and each frame of an upload's body: larger frames cost fewer wake-ups
    /// per MiB uploaded, and every connection more memory.
    pub read_buffer_kib: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout_secs: 60,
            client_timeout_secs: 60,
            keepalive_timeout_secs: 120,
            max_connections: 4096,
            shutdown_grace_secs: 30,
            max_blocking_threads: 256,
            worker_threads: 0,
            read_buffer_kib: 64,
        }
    }
}

impl ServerConfig {
    /// Timeouts and counts of at least 1 (0 would refuse every client).
    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("header_timeout_secs", self.header_timeout_secs),
            ("client_timeout_secs", self.client_timeout_secs),
            ("keepalive_timeout_secs", self.keepalive_timeout_secs),
            ("max_connections", self.max_connections as u64),
        ];
        if let Some((k, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("[server] {k} must be at least 1"));
        }
        if self.worker_threads > 1024 {
            return Err("[server] worker_threads must be at most 1024 (0: one per core)".into());
        }
        if self.max_blocking_threads < 4 {
            return Err("[server] max_blocking_threads must be at least 4".into());
        }
        if !(64..=1024).contains(&self.read_buffer_kib) {
            return Err("[server] read_buffer_kib must be from 64 to 1024".into());
        }
        Ok(())
    }
}

/// The periodic background scrub inside the server (see `sofgate scrub`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrubConfig {
    /// Seconds between the starts of two scrubs of every device; 0: off.
    pub interval_secs: u64,
    /// Bytes of object data read per second, at most.
    pub max_rate: u64,
    /// Quarantine or re-derive what is found (as `sofgate scrub --fix`);
    /// off: only count and log it.
    pub fix: bool,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            interval_secs: 0,
            max_rate: 20 << 20,
            fix: false,
        }
    }
}

/// Quoted ETags on object responses (Swift's etag_quoter).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EtagQuoterConfig {
    /// Quote ETags unless an account or container turns it off with
    /// `X-(Account|Container)-Rfc-Compliant-Etags: false`.
    pub enable_by_default: bool,
}

/// Serving accounts and containers as host names (Swift's domain_remap).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainRemapConfig {
    /// Domains under which `<account>.<domain>` and
    /// `<container>.<account>.<domain>` are remapped; empty: off.
    pub storage_domain: Vec<String>,
}

/// Cross-origin resource sharing for every container, beyond each
/// container's own `X-Container-Meta-Access-Control-*` rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins every container allows.
    pub allow_origin: Vec<String>,
    /// Only allowed origins get `Access-Control-Allow-Origin` (Swift's
    /// `strict_cors_mode`).
    pub strict: bool,
    /// Headers exposed on every CORS response, besides the defaults.
    pub expose_headers: Vec<String>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allow_origin: Vec::new(),
            strict: true,
            expose_headers: Vec::new(),
        }
    }
}

/// One storage policy: a name and the mounted path it stores on.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: String,
    pub device: PathBuf,
    /// Refuse requests (507) when `device` is not a mount point.
    #[serde(default)]
    pub mount_check: bool,
    #[serde(default)]
    pub default: bool,
}

/// On-disk layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Mode of new object files, as an octal string.
    pub file_mode: String,
    /// Mode of new directories, as an octal string.
    pub dir_mode: String,
    /// Largest xattr value per metadata chunk (Swift-on-File uses 65536).
    pub xattr_chunk: usize,
    /// Fsync the directory after each object rename.
    pub fsync_dir: bool,
    /// A write replaces an object only when it began later than the
    /// object's X-Timestamp (as Swift: the older of two racing PUTs is
    /// dropped with a 202), checked under a lock on the replaced file that
    /// every node honours. Off: the last rename wins.
    pub newest_wins: bool,
    /// With `newest_wins`, a DELETE removes only an object that began
    /// before the DELETE arrived (else 409, as Swift) and leaves a
    /// tombstone kept this many seconds, so that a write that began before
    /// the DELETE and finishes after it is dropped (202) instead of
    /// bringing the object back. 0: DELETE compares and records nothing.
    pub tombstone_secs: u64,
    /// Serve GET/HEAD of objects with fresh metadata straight from the async
    /// workers (open, fgetxattr, read of up to 64 KiB) instead of handing
    /// each to the blocking pool. Turn off where one file read can stall
    /// for long (a slow network mount).
    pub quick_reads: bool,
    /// Temp files whose last change is older than this many seconds are
    /// removed, at start and by a sweep every as many seconds.
    pub reap_temp_after_secs: u64,
    /// A listing page reads at most this many bytes of files without fresh
    /// metadata to hash them; rows past it show an empty hash and are
    /// hashed in the background.
    pub listing_hash_budget_bytes: u64,
    /// ... and spends at most this many milliseconds doing so.
    pub listing_hash_budget_ms: u64,
    /// Container object counts and bytes are reused this long (writes through
    /// this node refresh them at once; others' changes show after this).
    pub usage_cache_secs: u64,
    /// Also read gluster-swift's legacy pickled metadata (rewritten as JSON
    /// on the next metadata write).
    pub read_pickled_metadata: bool,
    /// Seconds between two sweeps that remove expired objects from disk
    /// (0: never; expired objects answer 404 either way).
    pub expirer_interval_secs: u64,
    /// GET, HEAD and POST with `X-Open-Expired: true` reach an expired
    /// object that is still on disk (Swift's `allow_open_expired`).
    pub allow_open_expired: bool,
    /// Accounts whose files belong to a POSIX user, so that user sees them
    /// as their own on the mount.
    #[serde(rename = "owner")]
    pub owners: Vec<OwnerConfig>,
    /// What a POSIX symlink made on the mount is: `ignore` (no object) or
    /// `within_container` (served read only when it stays in its container).
    pub posix_symlinks: crate::store::Symlinks,
    /// Look names up with `openat2(2)` where the kernel has it; `false`
    /// forces the component-by-component walk (for tests, or a kernel whose
    /// `openat2` misbehaves).
    pub openat2: bool,
}

/// The POSIX owner of one account's files and directories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerConfig {
    /// Full account name, e.g. `AUTH_alice`.
    pub account: String,
    pub uid: u32,
    pub gid: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            file_mode: "0644".into(),
            dir_mode: "0755".into(),
            xattr_chunk: 65536,
            fsync_dir: true,
            newest_wins: true,
            tombstone_secs: 86_400,
            quick_reads: true,
            reap_temp_after_secs: 3600,
            listing_hash_budget_bytes: 64 << 20,
            listing_hash_budget_ms: 250,
            usage_cache_secs: 10,
            read_pickled_metadata: false,
            expirer_interval_secs: 300,
            allow_open_expired: false,
            owners: Vec::new(),
            posix_symlinks: Default::default(),
            openat2: true,
        }
    }
}

/// Tempauth: users and the secret that signs tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Signs tokens (HMAC key): whoever knows it can mint a token for any
    /// user, reseller admins included. At least [`MIN_SECRET_BYTES`]; every
    /// node sharing a volume must use the same one.
    pub secret: String,
    /// Token lifetime in seconds.
    pub token_life: u64,
    /// Prefix of account names (`AUTH_`); storage URLs use it.
    pub reseller_prefix: String,
    /// Further account prefixes (tempauth's `reseller_prefix = AUTH, SERVICE`).
    #[serde(rename = "service_prefix")]
    pub service_prefixes: Vec<ServicePrefix>,
    #[serde(rename = "user")]
    pub users: Vec<UserConfig>,
}

/// A further account prefix: the admin of account `x` owns `<prefix>x` too,
/// when the request's tokens (`X-Auth-Token` plus `X-Service-Token`) carry
/// `require_group`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePrefix {
    /// E.g. `SERVICE_`.
    pub prefix: String,
    /// A group one of the request's tokens must have (tempauth's
    /// `<prefix>require_group`); empty: none.
    #[serde(default)]
    pub require_group: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            secret: String::new(),
            token_life: 86400,
            reseller_prefix: "AUTH_".into(),
            service_prefixes: Vec::new(),
            users: Vec::new(),
        }
    }
}

/// One tempauth user: `account:user` with a key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub account: String,
    pub user: String,
    pub key: String,
    /// `.admin`: owns the account.
    #[serde(default)]
    pub admin: bool,
    /// `.reseller_admin`: may act on every account.
    #[serde(default)]
    pub reseller_admin: bool,
    /// Further groups (e.g. `service`), for service prefixes' `require_group`
    /// and ACLs.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Swift's constraints, advertised in `/info`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_file_size: u64,
    pub max_meta_name_length: usize,
    pub max_meta_value_length: usize,
    pub max_meta_count: usize,
    pub max_meta_overall_size: usize,
    pub max_header_size: usize,
    pub max_object_name_length: usize,
    pub container_listing_limit: usize,
    pub account_listing_limit: usize,
    pub max_account_name_length: usize,
    pub max_container_name_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 5_368_709_122,
            max_meta_name_length: 128,
            max_meta_value_length: 256,
            max_meta_count: 90,
            max_meta_overall_size: 4096,
            max_header_size: 8192,
            max_object_name_length: 1024,
            container_listing_limit: 10000,
            account_listing_limit: 10000,
            max_account_name_length: 256,
            // A container is a directory: NAME_MAX bounds it.
            max_container_name_length: 255,
        }
    }
}

fn default_listen() -> SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// The shortest `[auth] secret` accepted: 32 bytes, as many as the HMAC's
/// output, so guessing it is no easier than forging a token outright.
pub const MIN_SECRET_BYTES: usize = 32;

impl Config {
    /// The embedded default: device `./data`, the tempauth test users. Its
    /// secret is empty until [`device_secret`] fills it in at start.
    pub fn embedded() -> Config {
        let user = |account: &str, user: &str, key: &str, admin: bool| UserConfig {
            account: account.into(),
            user: user.into(),
            key: key.into(),
            admin,
            reseller_admin: false,
            groups: Vec::new(),
        };
        Config {
            listen: default_listen(),
            policies: vec![PolicyConfig {
                name: "gold".into(),
                device: PathBuf::from("./data"),
                mount_check: false,
                default: true,
            }],
            storage: StorageConfig::default(),
            auth: AuthConfig {
                users: vec![
                    user("test", "tester", "testing", true),
                    user("test2", "tester2", "testing2", true),
                    user("test", "tester3", "testing3", false),
                ],
                ..AuthConfig::default()
            },
            limits: Limits::default(),
            cors: CorsConfig::default(),
            keystone: None,
            domain_remap: DomainRemapConfig::default(),
            etag_quoter: EtagQuoterConfig::default(),
            s3: S3Config::default(),
            server: ServerConfig::default(),
            scrub: ScrubConfig::default(),
            features: FeaturesConfig::default(),
            log: LogConfig::default(),
            health: HealthConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c: Config = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(c)
    }

    /// Checks what serde cannot: at least one policy, unique names, a secret.
    pub fn validate(&self) -> Result<(), String> {
        if self.policies.is_empty() {
            return Err("at least one [[policy]] is needed".into());
        }
        let mut names: Vec<_> = self
            .policies
            .iter()
            .map(|p| p.name.to_lowercase())
            .collect();
        names.sort();
        names.dedup();
        if names.len() != self.policies.len() {
            return Err("policy names must be unique".into());
        }
        if self.policies.iter().filter(|p| p.default).count() > 1 {
            return Err("only one policy may be the default".into());
        }
        parse_mode(&self.storage.file_mode)?;
        parse_mode(&self.storage.dir_mode)?;
        if self.storage.xattr_chunk < 64 {
            return Err("[storage] xattr_chunk must be at least 64".into());
        }
        self.server.validate()?;
        self.validate_maintenance()?;
        if let Some(k) = &self.keystone {
            k.validate()?;
        }
        self.health.validate()?;
        self.auth.validate()
    }

    /// The keys of the sweeps and the scrub: what would remove live
    /// uploads or never read anything is refused.
    pub fn validate_maintenance(&self) -> Result<(), String> {
        if self.storage.reap_temp_after_secs == 0 {
            return Err(
                "[storage] reap_temp_after_secs must be at least 1: the periodic sweep \
                        would remove the temp files of uploads in progress"
                    .into(),
            );
        }
        if self.s3.upload_reap_after_secs == 0 {
            return Err(
                "[s3] upload_reap_after_secs must be at least 1: the sweep would remove \
                        multipart uploads in progress"
                    .into(),
            );
        }
        if self.scrub.interval_secs > 0 && self.scrub.max_rate == 0 {
            return Err("[scrub] max_rate must be more than 0 bytes per second".into());
        }
        Ok(())
    }

    /// The store this config describes: policies, layout options, and the
    /// process-wide switches (legacy pickles, `openat2`).
    pub fn store(&self) -> Result<crate::store::Store, String> {
        use crate::store;
        let mut policies = Vec::new();
        let any_default = self.policies.iter().any(|p| p.default);
        for (i, p) in self.policies.iter().enumerate() {
            policies.push(store::Policy {
                name: p.name.clone(),
                index: i,
                device: p.device.clone(),
                mount_check: p.mount_check,
                default: p.default || (!any_default && i == 0),
                no_rename_noreplace: Default::default(),
                tomb_area: Default::default(),
            });
        }
        let s = &self.storage;
        let opts = store::Options {
            file_mode: parse_mode(&s.file_mode)?,
            dir_mode: parse_mode(&s.dir_mode)?,
            xattr_chunk: s.xattr_chunk,
            fsync_dir: s.fsync_dir,
            newest_wins: s.newest_wins,
            tombstone_life: std::time::Duration::from_secs(s.tombstone_secs),
            quick_reads: s.quick_reads,
            usage_ttl: std::time::Duration::from_secs(s.usage_cache_secs),
            owners: s
                .owners
                .iter()
                .map(|o| (o.account.clone(), (o.uid, o.gid)))
                .collect(),
            limits: store::Limits {
                max_account_name_length: self.limits.max_account_name_length,
                max_container_name_length: self.limits.max_container_name_length,
                max_object_name_length: self.limits.max_object_name_length,
            },
            posix_symlinks: s.posix_symlinks,
            listing_hash: store::HashBudget {
                bytes: s.listing_hash_budget_bytes,
                time: std::time::Duration::from_millis(s.listing_hash_budget_ms),
            },
        };
        store::pickle::set_enabled(s.read_pickled_metadata);
        store::beneath::set_openat2(s.openat2);
        Ok(store::Store::new(policies, opts))
    }
}

impl AuthConfig {
    /// Prefixes non-empty and distinct, none the start of another (an
    /// account belongs to one); group names usable in tokens and ACLs.
    fn validate(&self) -> Result<(), String> {
        self.validate_secret()?;
        let mut prefixes = vec![self.reseller_prefix.as_str()];
        prefixes.extend(self.service_prefixes.iter().map(|p| p.prefix.as_str()));
        for (i, a) in prefixes.iter().enumerate() {
            if a.is_empty() || a.contains('/') {
                return Err(format!("[auth] bad account prefix {a:?}"));
            }
            if let Some(b) = prefixes[i + 1..]
                .iter()
                .find(|b| a.starts_with(**b) || b.starts_with(a))
            {
                return Err(format!("[auth] account prefixes {a:?} and {b:?} overlap"));
            }
        }
        let groups = self.users.iter().flat_map(|u| &u.groups);
        let required = self.service_prefixes.iter().map(|p| &p.require_group);
        for g in groups.chain(required.filter(|g| !g.is_empty())) {
            if g.is_empty() || g.contains(|c: char| c == ',' || c.is_whitespace() || c.is_control())
            {
                return Err(format!("[auth] bad group name {g:?}"));
            }
            if [".admin", ".reseller_admin", ".reseller_reader"].contains(&g.as_str()) {
                return Err(format!(
                    "[auth] {g:?} is not a group here: use the user's flags"
                ));
            }
        }
        Ok(())
    }
}

impl AuthConfig {
    /// Long enough to resist guessing, and not a placeholder copied from the
    /// example file (which, published, is no secret).
    fn validate_secret(&self) -> Result<(), String> {
        let s = &self.secret;
        if s.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "[auth] secret must be at least {MIN_SECRET_BYTES} bytes (it has {}): it signs \
                 every token, so whoever knows or guesses it can act as any user; \
                 generate one with `openssl rand -hex 32`",
                s.len()
            ));
        }
        if s.to_ascii_lowercase().contains("change-me") {
            return Err(
                "[auth] secret is the example's placeholder: set a secret of your own \
                        (`openssl rand -hex 32`)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Where the embedded default keeps the token secret it generated:
/// `<device>/.sofgate/secret`. On the device, because the device is the one
/// state all nodes share: nodes serving the same device (and so the same
/// accounts) then accept each other's tokens, and tokens survive restarts.
/// `.sofgate` already holds sofgate's own state and is no account, so no
/// request can name it.
pub fn secret_path(device: &Path) -> PathBuf {
    device.join(".sofgate").join("secret")
}

/// The secret stored on `device`, generated (32 random bytes, hex) and
/// stored with mode 0600 if there is none yet. Two nodes starting at once
/// agree: the file is linked into place only if absent, and the loser reads
/// the winner's.
pub fn device_secret(device: &Path) -> Result<String, String> {
    let path = secret_path(device);
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    if let Some(s) = read_secret(&path)? {
        return Ok(s);
    }
    let dir = path.parent().unwrap_or(device);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(shown)?;
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    let tmp = dir.join(format!(".secret.{:016x}.tmp", rand::random::<u64>()));
    let written = write_private(&tmp, hex::encode(key).as_bytes())
        .and_then(|()| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => tracing::info!("generated a token secret in {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(shown(e)),
    }
    read_secret(&path)?.ok_or_else(|| format!("{}: vanished after writing", path.display()))
}

/// Writes `data` to a new file readable by its owner only, and syncs it.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// A stored secret: `None` when there is none; an error when it is too
/// short or others may read it (then it may be known, and tokens forged).
fn read_secret(path: &Path) -> Result<Option<String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{}: the token secret is readable by others (mode {:o}); `chmod 600` it",
            path.display(),
            mode & 0o777
        ));
    }
    let secret = text.trim().to_string();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{}: shorter than {MIN_SECRET_BYTES} bytes; remove it to have a new one generated",
            path.display()
        ));
    }
    Ok(Some(secret))
}

/// Parses an octal mode string such as `"0644"`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(|_| format!("bad octal mode {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded default with a secret, as `serve` runs it.
    fn embedded() -> Config {
        let mut c = Config::embedded();
        c.auth.secret = "s".repeat(MIN_SECRET_BYTES);
        c
    }

    #[test]
    fn example_config_parses_and_validates_once_its_secret_is_set() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sofgate.example.toml"))
                .unwrap();
        let mut c: Config = toml::from_str(&text).unwrap();
        let err = c.validate().unwrap_err();
        assert!(
            err.contains("[auth] secret") && err.contains("placeholder"),
            "{err}"
        );
        c.auth.secret = "0123456789abcdef".repeat(4);
        c.validate().unwrap();
        assert!(c.policies.len() >= 2);
    }

    #[test]
    fn metrics_are_on_by_default_and_may_move_to_a_port_of_their_own() {
        assert!(embedded().metrics.enabled && embedded().metrics.listen.is_none());
        let c: Config = toml::from_str("[metrics]\nlisten = \"127.0.0.1:9100\"\n").unwrap();
        assert!(c.metrics.enabled);
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9100".parse().unwrap()));
        let c: Config = toml::from_str("[metrics]\nenabled = false\n").unwrap();
        assert!(!c.metrics.enabled);
        assert!(toml::from_str::<Config>("[metrics]\nport = 9100\n").is_err());
        assert!(toml::from_str::<Config>("[metrics]\nlisten = \"nowhere\"\n").is_err());
    }

    #[test]
    fn embedded_default_is_valid_with_a_secret_and_only_then() {
        embedded().validate().unwrap();
        let err = Config::embedded().validate().unwrap_err();
        assert!(
            err.contains("[auth] secret must be at least 32 bytes"),
            "{err}"
        );
    }

    #[test]
    fn short_secrets_are_refused_with_the_key_named() {
        let mut c = embedded();
        c.auth.secret = "x".repeat(MIN_SECRET_BYTES - 1);
        let err = c.validate().unwrap_err();
        assert!(
            err.starts_with("[auth] secret must be at least 32 bytes (it has 31)"),
            "{err}"
        );
        c.auth.secret = "x".repeat(MIN_SECRET_BYTES);
        c.validate().unwrap();
    }

    #[test]
    fn device_secret_is_generated_once_private_and_kept() {
        let dev = tempfile::tempdir().unwrap();
        let first = device_secret(dev.path()).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        let path = secret_path(dev.path());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A restart (or another node on the same device) reads the same one.
        assert_eq!(device_secret(dev.path()).unwrap(), first);
        // Another device gets another secret.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(device_secret(other.path()).unwrap(), first);
        // No temp file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"]);
    }

    #[test]
    fn a_device_secret_others_can_read_or_too_short_is_refused() {
        let dev = tempfile::tempdir().unwrap();
        device_secret(dev.path()).unwrap();
        let path = secret_path(dev.path());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = device_secret(dev.path()).unwrap_err();
        assert!(err.contains("readable by others"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "short").unwrap();
        assert!(device_secret(dev.path())
            .unwrap_err()
            .contains("shorter than 32"));
    }

    #[test]
    fn service_prefixes_and_groups_are_checked() {
        let with = |extra: &str| {
            let mut c = embedded();
            let more: AuthConfig = toml::from_str(extra).unwrap();
            c.auth.service_prefixes = more.service_prefixes;
            c.auth.users.extend(more.users);
            c.validate()
        };
        let service = "[[service_prefix]]\nprefix = \"SERVICE_\"\nrequire_group = \"service\"\n\
                       [[user]]\naccount = \"g\"\nuser = \"g\"\nkey = \"k\"\ngroups = [\"service\"]\n";
        with(service).unwrap();
        assert!(with("[[service_prefix]]\nprefix = \"AUTH_X_\"").is_err());
        assert!(with("[[service_prefix]]\nprefix = \"\"").is_err());
        assert!(with("[[service_prefix]]\nprefix = \"S_\"\nrequire_group = \"a,b\"").is_err());
        assert!(with(
            "[[user]]\naccount = \"g\"\nuser = \"g\"\nkey = \"k\"\ngroups = [\".admin\"]"
        )
        .is_err());
    }

    #[test]
    fn server_table_has_defaults_and_checks() {
        let c: Config = toml::from_str("[server]\nclient_timeout_secs = 5").unwrap();
        assert_eq!(c.server.client_timeout_secs, 5);
        assert_eq!(c.server.header_timeout_secs, 60);
        assert_eq!(c.server.shutdown_grace_secs, 30);
        let mut c = Config::embedded();
        c.server.keepalive_timeout_secs = 0;
        assert!(c.validate().unwrap_err().contains("keepalive_timeout_secs"));
        assert!(toml::from_str::<Config>("[server]\nclient_timeout = 5").is_err());
        let mut c = Config::embedded();
        assert_eq!(c.server.worker_threads, 0);
        c.server.worker_threads = 2000;
        assert!(c.validate().unwrap_err().contains("worker_threads"));
        let mut c = Config::embedded();
        assert_eq!(c.server.read_buffer_kib, 64);
        for bad in [32, 2048] {
            c.server.read_buffer_kib = bad;
            assert!(
                c.validate().unwrap_err().contains("read_buffer_kib"),
                "{bad}"
            );
        }
        c.server.read_buffer_kib = 256;
        assert!(c.server.validate().is_ok());
    }

    #[test]
    fn maintenance_keys_are_checked() {
        let mut c = embedded();
        assert_eq!(c.storage.listing_hash_budget_bytes, 64 << 20);
        assert_eq!(c.scrub.interval_secs, 0);
        c.storage.reap_temp_after_secs = 0;
        let err = c.validate().unwrap_err();
        assert!(err.contains("reap_temp_after_secs"), "{err}");
        c.storage.reap_temp_after_secs = 1;
        c.scrub.interval_secs = 60;
        c.scrub.max_rate = 0;
        assert!(c.validate().unwrap_err().contains("[scrub] max_rate"));
        c.scrub.max_rate = 1 << 20;
        c.validate().unwrap();
        let parsed: Config = toml::from_str(
            "[scrub]\ninterval_secs = 5\nfix = true\n[storage]\nlisting_hash_budget_ms = 0\n",
        )
        .unwrap();
        assert!(parsed.scrub.fix && parsed.scrub.max_rate == 20 << 20);
        assert_eq!(parsed.storage.listing_hash_budget_ms, 0);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Config>("listn = \"1.2.3.4:5\"").is_err());
    }
}
