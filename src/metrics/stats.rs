//! The store's own counters of background work ([`crate::store::stats`]),
//! read at each scrape: recording them costs the store nothing more.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::store::stats::{Counter, Stats};

#[derive(Debug)]
pub(super) struct StoreStats(pub Arc<Stats>);

/// Counters: (name without `_total`, help, value).
fn counters(s: &Stats) -> [(&'static str, &'static str, &Counter); 18] {
    let c = &s.scrub;
    [
        (
            "sofgate_temp_reaped_files",
            "Temp files of cut uploads removed by the periodic sweep",
            &s.temp_reaped,
        ),
        (
            "sofgate_temp_sweeps",
            "Periodic sweeps for stale temp files",
            &s.temp_sweeps,
        ),
        (
            "sofgate_hash_queued_files",
            "Files handed to the background hasher by listings",
            &s.hash_queued,
        ),
        (
            "sofgate_hash_dropped_files",
            "Files not queued for hashing: the queue was full",
            &s.hash_dropped,
        ),
        (
            "sofgate_hash_done_files",
            "Files the background hasher gave fresh metadata",
            &s.hash_done,
        ),
        (
            "sofgate_hash_read_bytes",
            "Bytes the background hasher read",
            &s.hash_bytes,
        ),
        (
            "sofgate_listing_unhashed_rows",
            "Listing rows shown with an empty hash (over the page's budget)",
            &s.listing_unhashed_rows,
        ),
        ("sofgate_scrub_runs", "Background scrubs finished", &c.runs),
        (
            "sofgate_scrub_objects",
            "Objects the background scrub checked",
            &c.objects,
        ),
        (
            "sofgate_scrub_read_bytes",
            "Bytes the background scrub read",
            &c.bytes,
        ),
        (
            "sofgate_scrub_mismatches",
            "Objects whose content does not match their metadata",
            &c.mismatches,
        ),
        (
            "sofgate_scrub_unreadable_metadata",
            "Objects whose metadata could not be read",
            &c.unreadable_metadata,
        ),
        (
            "sofgate_scrub_orphan_temp_files",
            "Orphan temp files the scrub met",
            &c.orphan_temp,
        ),
        (
            "sofgate_scrub_orphan_sidecars",
            "Sidecar files without their object",
            &c.orphan_sidecars,
        ),
        (
            "sofgate_scrub_bad_long_names",
            "Escaped long names whose stored name does not match",
            &c.bad_long_names,
        ),
        (
            "sofgate_scrub_stale_files",
            "Files changed on the mount since their metadata was written",
            &c.stale,
        ),
        (
            "sofgate_scrub_fixed",
            "Problems the scrub quarantined or re-derived",
            &c.fixed,
        ),
        (
            "sofgate_scrub_errors",
            "Errors of background scrubs",
            &c.errors,
        ),
    ]
}

/// Gauges: (name, help, value).
fn gauges(s: &Stats) -> [(&'static str, &'static str, u64); 3] {
    let c = &s.scrub;
    [
        (
            "sofgate_hash_queue_length",
            "Files waiting for the background hasher",
            s.hash_queue_len.get(),
        ),
        (
            "sofgate_scrub_last_finished_timestamp_seconds",
            "Unix time the last background scrub finished (0: none yet)",
            c.last_finished.get(),
        ),
        (
            "sofgate_scrub_last_duration_seconds",
            "Seconds the last background scrub took",
            c.last_seconds.get(),
        ),
    ]
}

impl Collector for StoreStats {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, c) in counters(&self.0) {
            let m = ConstCounter::new(c.get());
            m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)?;
        }
        for (name, help, v) in gauges(&self.0) {
            let m = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            m.encode(enc.encode_descriptor(name, help, None, m.metric_type())?)?;
        }
        Ok(())
    }
}
