//! Prometheus metrics: `/metrics` scraped by hand (counters, histograms and
//! their labels move with requests; no token needed; off or moved to a port
//! of its own: 404 on the API port), and scraped by a real Prometheus
//! (Debian's package, started by scripts/prometheus-up.sh on loopback with a
//! 1 s scrape interval) whose PromQL answers see a request counter and a
//! latency histogram move.
//!
//! When Prometheus cannot be installed, that test prints why and passes,
//! unless `SOFGATE_REQUIRE_PROMETHEUS=1` (CI) makes that a failure.

use crate::common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{v1, wait_until, Builder, Req, Server};

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

fn scrape(addr: SocketAddr) -> String {
    let r = Req::new(addr, "GET", "/metrics").send_expect(200);
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    r.text()
}

/// `name{method,resource,status,policy}`, as the request families label it.
fn series(name: &str, method: &str, resource: &str, status: &str, policy: &str) -> String {
    format!(
        "{name}{{method=\"{method}\",resource=\"{resource}\",status=\"{status}\",policy=\"{policy}\"}}"
    )
}

#[test]
fn requests_move_counters_and_histograms_with_their_labels() {
    let s = Builder::new()
        .policy("gold", false, true)
        .policy("silver", false, false)
        .start();
    let t = s.admin_token().to_string();
    s.put_container("c");
    s.req("PUT", &v1("s"))
        .header("X-Storage-Policy", "silver")
        .send_expect(201);
    let data = vec![7u8; 4096];
    assert_eq!(s.put_object("c/o", &data).status, 201);
    assert_eq!(s.put_object("s/o", b"silver").status, 201);
    for _ in 0..3 {
        assert_eq!(s.get("c/o").status, 200);
    }
    assert_eq!(s.get("s/o").status, 200);
    assert_eq!(s.get("c/missing").status, 404);
    s.req("HEAD", &v1("c")).send_expect(204);
    let bogus = Req::new(s.addr(), "PROPFIND", &v1("c/o"))
        .header("X-Auth-Token", &t)
        .send();
    assert!(bogus.status >= 400, "{bogus:?}");

    // No token: /metrics is not behind Swift's auth. The clients above have
    // closed their connections; the server may see the last close a moment
    // after the scrape's connection opens (a loaded machine), so it is
    // scraped again until that one is gone (at most 2 s).
    let mut text = scrape(s.addr());
    for _ in 0..40 {
        if sample(&text, "sofgate_open_connections") == Some(1.0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        text = scrape(s.addr());
    }
    let get = |name, m, r, st, p| sample(&text, &series(name, m, r, st, p));
    let reqs = "sofgate_requests_total";
    assert_eq!(get(reqs, "GET", "object", "2xx", "0"), Some(3.0), "{text}");
    assert_eq!(get(reqs, "GET", "object", "2xx", "1"), Some(1.0), "{text}");
    assert_eq!(get(reqs, "GET", "object", "4xx", "0"), Some(1.0), "{text}");
    assert_eq!(
        get(reqs, "PUT", "container", "2xx", "1"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        get(reqs, "HEAD", "container", "2xx", "0"),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("method=\"BAD_METHOD\",resource=\"object\""),
        "{text}"
    );
    for h in [
        "swift_proxy_server_request_timing_count",
        "swift_proxy_server_request_ttfb_count",
    ] {
        assert_eq!(
            get(h, "GET", "object", "2xx", "0"),
            Some(3.0),
            "{h}: {text}"
        );
    }
    let le = "swift_proxy_server_request_timing_bucket{le=\"+Inf\",method=\"GET\",\
              resource=\"object\",status=\"2xx\",policy=\"0\"}";
    assert_eq!(sample(&text, le), Some(3.0), "{text}");
    let sum = get(
        "swift_proxy_server_request_timing_sum",
        "GET",
        "object",
        "2xx",
        "0",
    );
    assert!(sum.is_some_and(|v| v > 0.0), "{text}");
    let body = "swift_proxy_server_response_body_bytes_total";
    assert_eq!(
        get(body, "GET", "object", "2xx", "0"),
        Some(3.0 * 4096.0),
        "{text}"
    );
    // The scrape itself is the one request in flight, on one connection.
    assert_eq!(
        sample(&text, "sofgate_requests_in_flight"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "sofgate_open_connections"),
        Some(1.0),
        "{text}"
    );
    let received = sample(&text, "sofgate_received_bytes_total").unwrap_or(0.0);
    assert!(received > 4096.0, "{text}");
    let sent = sample(&text, "sofgate_sent_bytes_total").unwrap_or(0.0);
    assert!(sent > 4.0 * 4096.0, "{text}");
    assert!(text.contains("sofgate_build_info{version=\""), "{text}");
    assert!(text.contains("sofgate_temp_reaped_files_total 0"), "{text}");
    assert!(text.contains("sofgate_hash_queue_length 0"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    // The next scrape counts the last one, and the counters only grow.
    let again = scrape(s.addr());
    let scrapes = series(reqs, "GET", "other", "2xx", "");
    assert!(
        sample(&again, &scrapes).is_some_and(|v| v >= 1.0),
        "{again}"
    );
    assert_eq!(
        sample(&again, &series(reqs, "GET", "object", "2xx", "0")),
        Some(3.0)
    );
}

#[test]
fn container_usage_walks_are_counted_and_timed() {
    let s = Server::start();
    s.put_container("c");
    assert_eq!(s.put_object("c/o", b"x").status, 201);
    s.req("HEAD", &v1("c")).send_expect(204);
    let text = scrape(s.addr());
    let walks = sample(&text, "sofgate_container_usage_walk_seconds_count");
    assert!(walks.is_some_and(|n| n >= 1.0), "{text}");
}

#[test]
fn disabled_metrics_answer_404() {
    let s = Builder::new().toml("[metrics]\nenabled = false").start();
    Req::new(s.addr(), "GET", "/metrics").send_expect(404);
    // The API itself still works.
    s.put_container("c");
    s.req("HEAD", &v1("c")).send_expect(204);
}

#[test]
fn a_remapped_host_reaches_its_object_named_metrics() {
    let s = Builder::new()
        .toml("[domain_remap]\nstorage_domain = [\"example.com\"]")
        .start();
    s.put_container("c");
    assert_eq!(s.put_object("c/metrics", b"an object").status, 201);
    let host = "c.AUTH-test.example.com";
    let r = s.req("GET", "/metrics").header("Host", host).send();
    assert_eq!((r.status, r.text().as_str()), (200, "an object"));
    // Any other host: the scrape.
    let text = scrape(s.addr());
    let remapped = series("sofgate_requests_total", "GET", "object", "2xx", "0");
    assert_eq!(sample(&text, &remapped), Some(1.0), "{text}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn a_separate_listen_serves_metrics_and_the_api_port_answers_404() {
    let port = free_port();
    let s = Builder::new()
        .toml(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\""))
        .start();
    s.put_container("c");
    let at = SocketAddr::from(([127, 0, 0, 1], port));
    let text = scrape(at);
    let put = series("sofgate_requests_total", "PUT", "container", "2xx", "0");
    assert_eq!(sample(&text, &put), Some(1.0), "{text}");
    Req::new(s.addr(), "GET", "/metrics").send_expect(404);
    Req::new(at, "GET", "/v1/AUTH_test").send_expect(404);
}

// --- a real Prometheus ---------------------------------------------------------------------

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A Prometheus started by scripts/prometheus-up.sh; stopped on drop.
struct Prometheus {
    dir: PathBuf,
    addr: SocketAddr,
}

/// Why there is no Prometheus: it cannot be installed here, or it failed.
enum NoPrometheus {
    NotInstallable(String),
    Failed(String),
}

impl Prometheus {
    fn start(dir: &Path, target: SocketAddr) -> Result<Prometheus, NoPrometheus> {
        let out = Command::new(repo().join("scripts/prometheus-up.sh"))
            .arg(dir)
            .arg(target.to_string())
            .output()
            .map_err(|e| NoPrometheus::Failed(format!("cannot run prometheus-up.sh: {e}")))?;
        let why = String::from_utf8_lossy(&out.stderr).to_string();
        match out.status.code() {
            Some(0) => {}
            Some(2) => return Err(NoPrometheus::NotInstallable(why)),
            _ => return Err(NoPrometheus::Failed(why)),
        }
        let env = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
        let url = env
            .lines()
            .find_map(|l| l.strip_prefix("PROMETHEUS_URL=http://"))
            .ok_or_else(|| NoPrometheus::Failed(format!("no PROMETHEUS_URL in {env:?}")))?;
        let addr = url
            .trim()
            .parse()
            .map_err(|_| NoPrometheus::Failed(url.into()))?;
        Ok(Prometheus {
            dir: dir.to_path_buf(),
            addr,
        })
    }

    /// The value of a PromQL expression that gives one number, if any yet.
    fn query(&self, promql: &str) -> Option<f64> {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let q = utf8_percent_encode(promql, NON_ALPHANUMERIC);
        let r = Req::new(self.addr, "GET", &format!("/api/v1/query?query={q}")).send();
        assert_eq!(r.status, 200, "{promql}: {r:?}");
        let v = r.json();
        assert_eq!(v["status"], "success", "{promql}: {v}");
        let value = &v["data"]["result"].as_array()?.first()?["value"][1];
        value.as_str()?.parse().ok()
    }

    /// Waits (bounded) until `promql` gives a value that `ok` accepts.
    fn wait_for(&self, promql: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let mut last = None;
        let seen = wait_until(Duration::from_secs(30), || {
            last = self.query(promql);
            last.is_some_and(&ok)
        });
        assert!(
            seen,
            "Prometheus never answered as expected: {promql} = {last:?}"
        );
        last.unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/prometheus-down.sh"))
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn a_real_prometheus_sees_the_request_counter_and_latency_histogram_move() {
    let s = Server::start();
    s.put_container("c");
    assert_eq!(s.put_object("c/o", b"scraped").status, 201);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = match Prometheus::start(dir.path(), s.addr()) {
        Ok(p) => p,
        Err(NoPrometheus::NotInstallable(why))
            if std::env::var("SOFGATE_REQUIRE_PROMETHEUS").as_deref() != Ok("1") =>
        {
            eprintln!("SKIPPED: Prometheus cannot be installed here:\n{why}");
            return;
        }
        Err(NoPrometheus::NotInstallable(why) | NoPrometheus::Failed(why)) => {
            panic!("no Prometheus: {why}")
        }
    };
    let gets = "sum(sofgate_requests_total{method=\"GET\",resource=\"object\",status=\"2xx\"})";
    let timed = "sum(swift_proxy_server_request_timing_count{method=\"GET\",resource=\"object\"})";
    let quantile = "histogram_quantile(0.9, sum by (le) \
                    (swift_proxy_server_request_timing_bucket{method=\"GET\",resource=\"object\"}))";
    // Prometheus scrapes once before the GETs: the series exist, at 1.
    assert_eq!(s.get("c/o").status, 200);
    let before = p.wait_for(gets, |v| v >= 1.0);
    p.wait_for(timed, |v| v >= before);
    for _ in 0..5 {
        assert_eq!(s.get("c/o").status, 200);
    }
    let after = p.wait_for(gets, |v| v >= before + 5.0);
    p.wait_for(timed, |v| v >= after);
    let q = p.wait_for(quantile, |v| v.is_finite() && v > 0.0);
    assert!(q <= 30.0, "a GET's 90th percentile of {q} s");
    // Prometheus' own view of the target: up.
    p.wait_for("up{job=\"sofgate\"}", |v| v == 1.0);
}
