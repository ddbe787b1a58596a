//! Metrics the pod's contexts count into, registered at start.

use prometheus::{IntCounterVec, Opts, Registry};

/// `mercato_inventory_gate_total{outcome}` (the registry adds the prefix).
#[derive(Clone)]
pub struct GateMetrics {
    total: IntCounterVec,
}

impl GateMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let total = IntCounterVec::new(
            Opts::new(
                "inventory_gate_total",
                "Hot-SKU gate decisions: admitted, rejected, seeded (counters created), bypassed",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(total.clone()))?;
        Ok(Self { total })
    }

    pub fn inc(&self, outcome: &str) {
        self.total.with_label_values(&[outcome]).inc();
    }
}
