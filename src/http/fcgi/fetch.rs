//! `fcgi.docroot` and `fcgi.index`: the `docroot` and `index` of the FastCGI
//! application the current backend uses (nothing without one, or without `index`).
//!
//! The applications are recorded by backend name when the proxies are built
//! ([`super::for_backend`]); every thread builds the same configuration, so one table
//! serves them all.

use crate::sample::fetch::Fetch;
use crate::sample::{args::ArgSpec, Sample, SampleCtx, SampleType};
use std::sync::RwLock;

/// Backend name → (docroot, index).
static APPS: RwLock<Vec<(String, String, Option<String>)>> = RwLock::new(Vec::new());

/// Records the application of `backend`.
pub fn register(backend: &str, app: &super::App) {
    let mut apps = APPS.write().unwrap_or_else(|e| e.into_inner());
    apps.retain(|(b, _, _)| b != backend);
    apps.push((backend.to_string(), app.docroot.clone(), app.index.clone()));
}

fn lookup_app<T>(cx: &dyn SampleCtx, f: impl FnOnce(&(String, String, Option<String>)) -> Option<T>) -> Option<T> {
    let be = cx.backend_name()?;
    let apps = APPS.read().unwrap_or_else(|e| e.into_inner());
    apps.iter().find(|(b, _, _)| b == be).and_then(f)
}

fn no_check(_: &mut [crate::sample::args::Arg]) -> Result<(), String> {
    Ok(())
}

/// The two fetches.
pub static FETCHES: &[Fetch] = &[
    Fetch {
        name: "fcgi.docroot",
        args: ArgSpec::NONE,
        out: SampleType::Str,
        check: no_check,
        run: |_, cx| lookup_app(cx, |(_, d, _)| Some(Sample::str(d.as_bytes()))),
        all: None,
        visit: None,
    },
    Fetch {
        name: "fcgi.index",
        args: ArgSpec::NONE,
        out: SampleType::Str,
        check: no_check,
        run: |_, cx| lookup_app(cx, |(_, _, i)| i.as_deref().map(|i| Sample::str(i.as_bytes()))),
        all: None,
        visit: None,
    },
];

/// The fetch named `name`, if it is one of these.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    FETCHES.iter().find(|f| f.name == name)
}
