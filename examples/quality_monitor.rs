//! A quality monitor around a pipeline: a monitor plugin tracks each phase's success rate and
//! duration from the pipeline's `phase.*` events and publishes `quality.alert` when a phase
//! fails too often; a caching plugin answers repeated analysis work from its cache (a request
//! between plugins) and publishes `cache.hit`; a notification plugin reacts to the alerts.
//!
//! `cargo run --example quality_monitor`

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use staticbus::prelude::*;
use staticbus::{
    BoxError, PhaseCompleted, PhaseFinalFailure, Pipeline, Request, Stage, StageContext,
    StageFuture, StageOutcome, stage_fn,
};

/// A document going through the pipeline.
#[derive(Debug, Clone)]
struct Report {
    text: String,
    words: usize,
    rendered: Option<String>,
}

/// `quality.alert`: a phase's success rate fell below the threshold.
#[derive(StaticEvent, Debug, Clone)]
#[event(name = "quality.alert")]
struct QualityAlert {
    phase: String,
    success_rate: f64,
    runs: u32,
}

/// `cache.hit`: the cache answered a phase's work.
#[derive(StaticEvent, Debug, Clone)]
#[event(name = "cache.hit")]
struct CacheHit {
    key: String,
}

/// Counts the words of a text, through the cache.
#[derive(Request)]
#[request(response = usize)]
struct Analyze {
    text: String,
}

/// Per phase: successes, failures, total time.
#[derive(Default)]
struct PhaseStats {
    ok: u32,
    failed: u32,
    time: Duration,
    alerted: bool,
}

/// Watches the pipeline's phases.
#[derive(Default)]
struct Monitor {
    phases: Mutex<HashMap<String, PhaseStats>>,
    /// `cache.hit` events seen.
    cache_hits: AtomicU32,
}

/// Below this success rate, after `MIN_RUNS` runs of a phase, the monitor alerts (once).
const THRESHOLD: f64 = 0.9;
const MIN_RUNS: u32 = 5;

#[plugin(name = "quality-monitor")]
impl Monitor {
    #[on]
    fn completed(&self, e: &PhaseCompleted, ctx: &HandlerContext<'_>) {
        self.record(&e.phase, true, e.duration, ctx);
    }

    #[on]
    fn failed(&self, e: &PhaseFinalFailure, ctx: &HandlerContext<'_>) {
        self.record(&e.phase, false, e.duration, ctx);
    }

    #[on]
    fn cache_hit(&self, e: &CacheHit) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
        println!("monitor: analysis of {:?} served from the cache", e.key);
    }
}

impl Monitor {
    fn record(&self, phase: &str, ok: bool, time: Duration, ctx: &HandlerContext<'_>) {
        let alert = {
            let mut phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
            let stats = phases.entry(phase.to_owned()).or_default();
            if ok {
                stats.ok += 1
            } else {
                stats.failed += 1
            }
            stats.time += time;
            let runs = stats.ok + stats.failed;
            let rate = f64::from(stats.ok) / f64::from(runs);
            let alert = runs >= MIN_RUNS && rate < THRESHOLD && !stats.alerted;
            stats.alerted |= alert;
            alert.then(|| QualityAlert {
                phase: phase.to_owned(),
                success_rate: rate,
                runs,
            })
        };
        if let Some(alert) = alert {
            ctx.emit(&alert);
        }
    }

    fn rate(&self, phase: &str) -> Option<(f64, u32)> {
        let phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        let s = phases.get(phase)?;
        let runs = s.ok + s.failed;
        Some((f64::from(s.ok) / f64::from(runs), runs))
    }
}

/// Answers `Analyze` requests, from its cache when it has seen the text.
#[derive(Default)]
struct Cache {
    entries: Mutex<HashMap<String, usize>>,
    hits: AtomicU32,
    misses: AtomicU32,
}

#[plugin(name = "cache")]
impl Cache {
    #[responds]
    fn analyze(&self, r: Analyze, ctx: &HandlerContext<'_>) -> Result<usize, std::io::Error> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&words) = entries.get(&r.text) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            ctx.emit(&CacheHit { key: r.text });
            return Ok(words);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let words = r.text.split_whitespace().count();
        entries.insert(r.text, words);
        Ok(words)
    }
}

/// Tells someone about alerts (here: prints them, and counts).
#[derive(Default)]
struct Notifier {
    sent: AtomicU32,
}

#[plugin(name = "notifier", depends_on = ["quality-monitor"])]
impl Notifier {
    #[on]
    fn alert(&self, e: &QualityAlert) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        println!(
            "ALERT: phase `{}` succeeded {:.0}% of {} runs",
            e.phase,
            e.success_rate * 100.0,
            e.runs
        );
    }
}

/// The analysis phase: asks the cache plugin (a request between plugins).
struct AnalyzeStage;

impl Stage<Report> for AnalyzeStage {
    fn name(&self) -> &str {
        "analyze"
    }

    fn process<'a>(&'a self, mut report: Report, ctx: &'a StageContext) -> StageFuture<'a, Report> {
        Box::pin(async move {
            let request = Analyze {
                text: report.text.clone(),
            };
            report.words = ctx.system().request(request).await?;
            Ok(StageOutcome::Continue(report))
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let system = EventSystem::builder().build()?;
    let pipeline = Pipeline::builder()
        .name("reports")
        .stage(stage_fn("extract", |mut r: Report| async move {
            r.text = r.text.trim().to_owned();
            Ok(StageOutcome::Continue(r))
        }))
        .stage(AnalyzeStage)
        .stage(stage_fn("render", |mut r: Report| async move {
            // Reports of more than four words do not fit the template: render fails.
            if r.words > 4 {
                return Err(format!("{} words do not fit", r.words).into());
            }
            r.rendered = Some(format!("<p>{}</p>", r.text));
            Ok(StageOutcome::Continue(r))
        }))
        .build()?;

    let inputs = [
        "all good",
        "short one",
        "all good",
        "this one is far too long",
        "ok",
    ];
    let mut rendered = 0;
    for round in 0..2 {
        for text in inputs {
            let report = Report {
                text: format!(" {text} "),
                words: 0,
                rendered: None,
            };
            match pipeline.run(&system, report).await {
                Ok(run) => rendered += usize::from(run.item.rendered.is_some()),
                Err(e) => println!("round {round}: {e}"),
            }
        }
    }

    let monitor = system.plugin::<Monitor>().ok_or("monitor linked")?;
    let cache = system.plugin::<Cache>().ok_or("cache linked")?;
    let notifier = system.plugin::<Notifier>().ok_or("notifier linked")?;
    let (render_rate, render_runs) = monitor.rate("render").ok_or("render ran")?;
    println!(
        "render: {:.0}% of {render_runs} runs; cache: {} hits, {} misses; {} alert(s) sent",
        render_rate * 100.0,
        cache.hits.load(Ordering::Relaxed),
        cache.misses.load(Ordering::Relaxed),
        notifier.sent.load(Ordering::Relaxed),
    );
    // 10 runs, 2 of them too long for render (80% < 90%: one alert, after the 5th run);
    // 4 distinct texts: 4 misses, 6 answers from the cache.
    assert_eq!(rendered, 8);
    assert_eq!(render_runs, 10);
    assert_eq!(notifier.sent.load(Ordering::Relaxed), 1);
    assert_eq!(cache.misses.load(Ordering::Relaxed), 4);
    assert_eq!(cache.hits.load(Ordering::Relaxed), 6);
    assert_eq!(monitor.cache_hits.load(Ordering::Relaxed), 6);
    Ok(())
}
