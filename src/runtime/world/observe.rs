//! Health analysis (`observe`): what the failed checks that streams' traffic triggered
//! did (`crate::backend::observe`), carried out as for check results, and the early
//! checks they ask for.

use super::World;
use crate::reactor::Ctx;

impl World {
    /// Applies the health analyses queued by streams since the last call.
    pub(super) fn health_analyses(&mut self, cx: &mut Ctx<'_>) {
        if self.farm.observed.is_empty() {
            return;
        }
        for (be, srv, analysis) in std::mem::take(&mut self.farm.observed) {
            if let Some((before, report)) = analysis.failed {
                self.apply_check_report(cx, be, srv, before, report);
            }
            // As in HAProxy, a configured `fastinter` brings the next check closer
            // (an earlier timer wins; the later one finds the check already run).
            if let Some(delay) = analysis.fastinter {
                self.checks.schedule(cx, be, srv, delay);
            }
        }
    }
}
