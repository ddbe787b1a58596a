//! The control plane's operator API as the CLI reads it: the very types the
//! control plane serialises, declared once in
//! [`mercato_tenants::operator`], so a change to one that the CLI does not
//! follow fails to compile here. Fields added by newer control planes
//! default when absent, so the CLI works against an older one; unknown
//! fields are ignored.

pub use mercato_tenants::operator::jobs::{Applied, Drain, Job, JobStatus, Outcome};
pub use mercato_tenants::operator::moves::{Move, MovePage, Phase, Status as MoveStatus};
pub use mercato_tenants::operator::rebalance::{Measure, Plan};
pub use mercato_tenants::operator::{Pod, Store, StorePage};
