//! `http-error` replies with log-format parts (`lf-string`, `lf-file`, `hdr` values
//! with `%`), rendered for each response the proxy generates for their status. The
//! static ones are plain error pages (`crate::http::errors`).
//!
//! The response is built as HAProxy builds `http-error` and `return` responses: the
//! `hdr` fields, then `content-length`, then `content-type`; no body for a HEAD request.

use super::{frontend_rule_env, Env, Stream};
use crate::config::model::HttpErrorReply;
use crate::http::rules::{Fmt, RuleCtx};
use crate::sample::SampleCtx;
use std::sync::Arc;

/// A compiled per-response reply.
#[derive(Debug)]
pub struct ErrorReply {
    status: u16,
    content_type: Option<String>,
    body: Body,
    headers: Vec<(String, Fmt)>,
}

#[derive(Debug)]
enum Body {
    Static(Vec<u8>),
    Format(Fmt),
}

impl ErrorReply {
    /// Compiles a reply (its formats were checked by the parser).
    pub fn compile(r: &HttpErrorReply) -> Result<(u16, Arc<ErrorReply>), String> {
        let body = if r.body_is_format {
            Body::Format(Fmt::parse(&String::from_utf8_lossy(&r.body))?)
        } else {
            Body::Static(r.body.clone())
        };
        let headers = r.headers.iter().map(|(n, v)| Ok((n.clone(), Fmt::parse(v)?))).collect::<Result<_, String>>()?;
        Ok((r.status, Arc::new(ErrorReply { status: r.status, content_type: r.content_type.clone(), body, headers })))
    }

    /// The response, rendered in `cx`; `head_only` for a HEAD request.
    pub fn render(&self, cx: &dyn SampleCtx, head_only: bool) -> Vec<u8> {
        let body = match &self.body {
            Body::Static(b) => b.clone(),
            Body::Format(f) => f.render(cx),
        };
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, crate::http::errors::reason(self.status)).into_bytes();
        for (name, value) in &self.headers {
            let v = value.render(cx);
            if v.iter().any(|&b| b == b'\r' || b == b'\n') {
                continue; // never a field split by a rendered sample
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        if let Some(ct) = &self.content_type {
            out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&body);
        }
        out
    }
}

impl Stream {
    /// The per-response `http-error` reply for `status`, rendered, when one applies:
    /// the backend's first (unless it has a plain page for the status), then the
    /// frontend's, as error pages are looked up.
    pub(super) fn http_error_reply(&mut self, env: &mut Env<'_, '_>, status: u16) -> Option<Vec<u8>> {
        let find = |p: usize| env.proxies[p].error_replies.iter().find(|(s, _)| *s == status).map(|(_, r)| r.clone());
        let be = self.backend.filter(|&b| b != self.frontend);
        let reply = match be {
            Some(b) if env.proxies[b].error_pages.configured(status).is_some() => return None,
            Some(b) => find(b).or_else(|| find(self.frontend)),
            None => find(self.frontend),
        }?;
        let fe = &env.proxies[self.frontend];
        let (src, dst, tls) = (self.src, self.dst, self.client.tls_info().cloned());
        let conn = conn_facts!(self);
        let h = self.http.as_mut()?;
        let head_only = h.txn.req.as_ref().is_some_and(|r| r.line.method == crate::http::Method::Head);
        let mut renv = frontend_rule_env(src, dst, fe, &mut h.sess_vars, tls, conn);
        renv.backend = be.map(|b| env.proxies[b].name.as_str());
        Some(reply.render(&RuleCtx::new(&renv, &h.txn), head_only))
    }
}
