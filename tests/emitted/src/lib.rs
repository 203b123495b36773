//! Every example's and stdlib file's rules compiled to Rust by `covenant emit-rust`, one
//! module each, so that building the workspace checks that the generator writes code that
//! compiles (decisions it leaves to the interpreter included). The tests check that each
//! module is what the generator gives now (`tests/tests/native.rs`); none is run here.

/// `examples/alliance-contract/alliance.cov`.
#[rustfmt::skip]
pub mod alliance_contract;
/// `examples/cluster-tariff/cluster_tariff.cov`.
#[rustfmt::skip]
pub mod cluster_tariff;
/// `examples/core-and-flexi/core_flexi.cov`.
#[rustfmt::skip]
pub mod core_and_flexi;
/// `examples/cquin/cquin.cov`.
#[rustfmt::skip]
pub mod cquin;
/// `examples/housing-support-tariff/tariff.cov`.
#[rustfmt::skip]
pub mod housing_support_tariff;
/// `examples/payment-on-results/results.cov`.
#[rustfmt::skip]
pub mod payment_on_results;
/// `examples/personal-health-budget/phb.cov`.
#[rustfmt::skip]
pub mod personal_health_budget;
/// `examples/resource-allocation/allocation.cov`.
#[rustfmt::skip]
pub mod resource_allocation;
/// `examples/suffolk-personal-budget/allocation.cov`.
#[rustfmt::skip]
pub mod suffolk_personal_budget;
/// `stdlib/finance/time.cov`.
#[rustfmt::skip]
pub mod stdlib_finance_time;
/// `stdlib/nhs/clusters.cov`.
#[rustfmt::skip]
pub mod stdlib_nhs_clusters;
/// `stdlib/nhs/mhct.cov`.
#[rustfmt::skip]
pub mod stdlib_nhs_mhct;
/// `stdlib/social_care/facs.cov`.
#[rustfmt::skip]
pub mod stdlib_social_care_facs;
/// `tests/native/conformance.cov`: rules written to test the generator against the
/// interpreter (`tests/tests/native.rs` runs them).
#[rustfmt::skip]
pub mod conformance;
