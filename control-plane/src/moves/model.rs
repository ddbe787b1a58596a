//! A move's decisions. Its phases, statuses and API shape are the
//! operator API's ([`mercato_tenants::operator::moves`]); what a restart
//! does in each phase and the copy order are pure and tested here; the
//! record's SQL is in [`super::sql`].

pub use mercato_tenants::operator::moves::{Move, Phase, Reason, Status};

/// What a control plane that finds a running move at start-up does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Redo the recorded phase and go on (nothing is held yet).
    Resume,
    /// Requests were held when the runner stopped: the hold is long over,
    /// so undo the move and serve from the source again.
    RollBack,
    /// The routing points at the target: finish the clean-up.
    Finish,
}

pub fn on_restart(phase: Phase) -> Recovery {
    match phase {
        Phase::Preflight | Phase::Copying | Phase::Verifying | Phase::CatchingUp => {
            Recovery::Resume
        }
        Phase::Frozen | Phase::Fenced | Phase::CaughtUp | Phase::Verified | Phase::RollingBack => {
            Recovery::RollBack
        }
        Phase::Switched | Phase::CleaningUp | Phase::Done => Recovery::Finish,
    }
}

/// One table's copy cost as the catalog estimates it.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyCost {
    pub table: String,
    /// Has a GIN index: rows go in far slower than elsewhere.
    pub gin: bool,
    /// Estimated rows of the table, all stores'.
    pub rows: f64,
}

/// Below this many estimated rows (all stores') a table without a GIN
/// index is small: its copy costs a worker's start-up, hardly any CPU.
pub const SMALL_TABLE_ROWS: f64 = 10_000.0;

impl CopyCost {
    /// Copied alongside the large tables, outside `copy_parallelism`.
    pub fn is_small(&self) -> bool {
        !self.gin && self.rows < SMALL_TABLE_ROWS
    }
}

/// The order in which a subscription is given its tables: GIN tables
/// first, then the largest, so that no long copy starts last and runs on
/// alone while the other workers idle. Ties go by name, so the order is
/// stable.
pub fn copy_order(costs: &[CopyCost]) -> Vec<CopyCost> {
    let mut order = costs.to_vec();
    order.sort_by(|a, b| {
        b.gin
            .cmp(&a.gin)
            .then(b.rows.total_cmp(&a.rows))
            .then(a.table.cmp(&b.table))
    });
    order
}

/// The tables to hand the subscription now, from `order`: every small
/// table not yet published (their start-ups overlap the large copies
/// instead of trailing them), and the next large ones while fewer than
/// `at_once` large tables are published but not yet copied (`copying`).
pub fn tables_to_add(
    order: &[CopyCost],
    published: &[String],
    copying: &[String],
    at_once: usize,
) -> Vec<String> {
    let unpublished = |c: &&CopyCost| !published.contains(&c.table);
    let large_running = order
        .iter()
        .filter(|c| !c.is_small() && copying.contains(&c.table))
        .count();
    let small = order.iter().filter(|c| c.is_small()).filter(unpublished);
    let large = order
        .iter()
        .filter(|c| !c.is_small())
        .filter(unpublished)
        .take(at_once.max(1).saturating_sub(large_running));
    small.chain(large).map(|c| c.table.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(table: &str, gin: bool, rows: f64) -> CopyCost {
        CopyCost {
            table: table.into(),
            gin,
            rows,
        }
    }

    #[test]
    fn gin_tables_then_the_largest_go_first() {
        let costs = [
            cost("api_keys", false, 0.0),
            cost("variants", false, 90_000.0),
            cost("search_documents", true, 37_000.0),
            cost("orders", false, 33_000.0),
            cost("search_terms", true, 4_000.0),
            cost("carts", false, 33_000.0),
        ];
        let names = |v: Vec<CopyCost>| v.into_iter().map(|c| c.table).collect::<Vec<_>>();
        assert_eq!(
            names(copy_order(&costs)),
            [
                "search_documents",
                "search_terms",
                "variants",
                "carts",
                "orders",
                "api_keys"
            ]
        );
        assert!(copy_order(&[]).is_empty());
    }

    #[test]
    fn small_tables_ride_along_and_large_ones_wait_their_turn() {
        let order = copy_order(&[
            cost("api_keys", false, 0.0),
            cost("locations", false, 9_999.0),
            cost("variants", false, 90_000.0),
            cost("search_documents", true, 37_000.0),
            cost("search_terms", true, 40.0),
            cost("orders", false, 33_000.0),
            cost("carts", false, 10_000.0),
        ]);
        let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        // At the start: the small tables and the first two large ones (a
        // GIN table is never small).
        assert_eq!(
            tables_to_add(&order, &[], &[], 2),
            s(&["locations", "api_keys", "search_documents", "search_terms"])
        );
        let published = s(&["locations", "api_keys", "search_documents", "search_terms"]);
        // Two large copies still running: nothing more.
        let running = s(&["search_documents", "search_terms", "api_keys"]);
        assert!(tables_to_add(&order, &published, &running, 2).is_empty());
        // One done: the next largest.
        let running = s(&["search_documents"]);
        assert_eq!(
            tables_to_add(&order, &published, &running, 2),
            s(&["variants"])
        );
        // All done, all published: nothing.
        let all: Vec<String> = order.iter().map(|c| c.table.clone()).collect();
        assert!(tables_to_add(&order, &all, &[], 2).is_empty());
        // A parallelism of 0 still copies one at a time.
        assert_eq!(tables_to_add(&order, &published, &[], 0), s(&["variants"]));
    }

    #[test]
    fn a_restart_resumes_before_the_freeze_rolls_back_during_it_and_finishes_after_the_switch() {
        assert_eq!(on_restart(Phase::Copying), Recovery::Resume);
        assert_eq!(on_restart(Phase::CatchingUp), Recovery::Resume);
        for held in [
            Phase::Frozen,
            Phase::Fenced,
            Phase::CaughtUp,
            Phase::Verified,
        ] {
            assert_eq!(on_restart(held), Recovery::RollBack, "{held:?}");
            assert!(!held.past_switch());
        }
        assert_eq!(on_restart(Phase::RollingBack), Recovery::RollBack);
        assert_eq!(on_restart(Phase::Switched), Recovery::Finish);
        assert_eq!(on_restart(Phase::CleaningUp), Recovery::Finish);
        assert!(Phase::Switched.past_switch());
    }
}
