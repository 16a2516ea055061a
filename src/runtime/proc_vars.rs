//! The `proc.*` variables of `set-var` / `set-var-fmt` in `global`, set in
//! configuration order before anything runs on a reactor thread (each thread has its
//! own `proc` store, see `crate::sample::vars`). An expression sees the variables set
//! before it; one that yields nothing (a fetch that needs a stream) sets nothing, as in
//! HAProxy.

use crate::config::model::Config;
use crate::sample::vars::{with_proc_vars, VarName};
use crate::sample::{Expr, Sample, SampleCtx};

/// What a start-up expression sees: no stream, the `proc` variables.
struct StartCtx;

impl SampleCtx for StartCtx {
    fn var(&self, name: &VarName) -> Option<Sample> {
        with_proc_vars(|v| v.get(name).cloned())
    }
}

/// Sets this thread's `proc` variables from the configuration.
pub fn init(config: &Config) {
    for init in &config.global.tuning.proc_vars {
        let Some(name) = VarName::parse(&init.name) else { continue }; // checked at parse
        let value = if init.fmt {
            crate::http::rules::Fmt::parse(&init.value).ok().map(|f| Sample::Str(f.render(&StartCtx)))
        } else {
            Expr::parse(&init.value).ok().and_then(|e| e.eval(&StartCtx))
        };
        if let Some(v) = value {
            with_proc_vars(|vars| vars.set(&name, v));
        }
    }
}
