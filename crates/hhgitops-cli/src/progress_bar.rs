//! The terminal's progress bars: a [`ProgressSink`] per operation that draws the engine's progress events with
//! `indicatif` — a bar with `done/total` when the stage knows its total, a spinner with the count otherwise, the
//! current object beside it. Only when standard error is a terminal and the command does not print JSON; in
//! every other case the engine gets [`Progress::none`] and nothing is drawn (nor computed).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hhgitops_engine::progress::{Progress, ProgressEvent, ProgressSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one command: one line per operation (per fabric with `--all`), cleared when the command is done.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<Vec<ProgressBar>>,
}

impl Bars {
    /// Bars on standard error when it is a terminal and `json` is false; otherwise none.
    pub fn new(json: bool) -> Bars {
        let on = !json && std::io::stderr().is_terminal();
        Bars {
            multi: on
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10))),
            bars: Mutex::new(Vec::new()),
        }
    }

    /// The progress handle of one operation, labelled (`ingest f`, `sync f`): draws a line of its own.
    pub fn progress(&self, label: &str) -> Progress {
        let Some(multi) = &self.multi else {
            return Progress::none();
        };
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(spinner_style());
        bar.set_prefix(crate::output::shown(label).to_string());
        bar.set_message("starting");
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(bar.clone());
        Progress::new(Arc::new(BarSink {
            bar,
            stage: Mutex::new(None),
        }))
    }

    /// Clears every bar (before the command prints its report).
    pub fn finish(&self) {
        for b in self
            .bars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.finish();
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:.bold} {pos} {elapsed} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {elapsed} {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

struct BarSink {
    bar: ProgressBar,
    /// The (operation, stage, has a total) being drawn.
    stage: Mutex<Option<(&'static str, &'static str, bool)>>,
}

impl ProgressSink for BarSink {
    fn report(&self, ev: &ProgressEvent) {
        let key = (ev.operation.as_str(), ev.stage, ev.total.is_some());
        {
            let mut cur = self.stage.lock().unwrap_or_else(|e| e.into_inner());
            if *cur != Some(key) {
                *cur = Some(key);
                self.bar.set_position(0);
                match ev.total {
                    Some(t) => {
                        self.bar.set_length(t);
                        self.bar.set_style(bar_style());
                    }
                    None => {
                        self.bar.unset_length();
                        self.bar.set_style(spinner_style());
                    }
                }
            }
        }
        if let Some(t) = ev.total {
            self.bar.set_length(t);
        }
        self.bar.set_position(ev.done);
        let stage = format!("{} {}", ev.operation.as_str(), ev.stage);
        match &ev.current {
            Some(c) => self
                .bar
                .set_message(format!("{stage}: {}", crate::output::shown(c))),
            None => self.bar.set_message(stage),
        }
    }
}
