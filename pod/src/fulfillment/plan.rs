//! Shipment planning as a plain function over plain data.
//!
//! One location ships everything when one can; the nearest such location
//! wins. Otherwise the order is split over the fewest locations: the
//! smallest set of locations whose stock covers every line, and among
//! sets of that size the one made of the nearest locations. Inside the set
//! each line ships whole from the nearest location that has all of it, and
//! is split (nearest first) only when no single location of the set has it.
//!
//! "Nearest" ranks locations by, in order: same country and region as the
//! address, same country, distance by coordinates (unknown distance last),
//! fulfillment priority (lower first), then id, so the plan is
//! deterministic. Postal codes are carried but not ranked on: without a
//! geocoder a shared prefix says little across countries.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use mercato_tenants::{LocationId, VariantId};

pub use crate::inventory::model::Coordinates;

/// Where the order goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub region: String,
    pub postal_code: String,
    pub coordinates: Option<Coordinates>,
}

/// An active location that could ship, with what it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub location: LocationId,
    /// ISO 3166-1 alpha-2, upper case; `None` when staff have not set it.
    pub country: Option<String>,
    pub region: String,
    pub postal_code: String,
    pub coordinates: Option<Coordinates>,
    /// Lower ships first among equally near locations.
    pub priority: i32,
    /// Units available (on hand, not otherwise reserved) per variant.
    pub available: BTreeMap<VariantId, i32>,
}

impl Origin {
    fn has(&self, variant: VariantId) -> i32 {
        self.available.get(&variant).copied().unwrap_or(0).max(0)
    }
}

/// Units of a variant: a line of the order, or of a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLine {
    pub variant: VariantId,
    pub quantity: i32,
}

/// One location's part of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedShipment {
    pub location: LocationId,
    /// By variant.
    pub lines: Vec<PlanLine>,
}

/// The shipments of an order, nearest location first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub shipments: Vec<PlannedShipment>,
}

/// Why no plan exists: the locations together lack units of these lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the locations together cannot ship {} line(s) in full", .short.len())]
pub struct Unplannable {
    /// The lines short, with the units all locations have together.
    pub short: Vec<(PlanLine, i32)>,
}

/// Subsets of locations tried before falling back to a greedy cover
/// (nearest location that adds the most missing units, repeatedly).
const MAX_SUBSETS: usize = 50_000;

/// Plans the shipments of `lines` to `destination` from `origins`.
/// Lines of the same variant are merged; lines of no units are ignored.
pub fn plan(
    lines: &[PlanLine],
    destination: &Destination,
    origins: &[Origin],
) -> Result<Plan, Unplannable> {
    let mut wanted: BTreeMap<VariantId, i32> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.quantity > 0) {
        *wanted.entry(line.variant).or_default() += line.quantity;
    }
    if wanted.is_empty() {
        return Ok(Plan { shipments: vec![] });
    }
    let short: Vec<(PlanLine, i32)> = wanted
        .iter()
        .filter_map(|(&variant, &quantity)| {
            let total: i64 = origins.iter().map(|o| i64::from(o.has(variant))).sum();
            (total < i64::from(quantity)).then_some((PlanLine { variant, quantity }, total as i32))
        })
        .collect();
    if !short.is_empty() {
        return Err(Unplannable { short });
    }

    let ranked = rank(destination, origins);
    let chosen = fewest(&wanted, &ranked).unwrap_or_else(|| greedy(&wanted, &ranked));
    Ok(assign(&wanted, &chosen))
}

/// The origins, nearest first.
fn rank<'a>(destination: &Destination, origins: &'a [Origin]) -> Vec<&'a Origin> {
    let tier = |o: &Origin| match o.country.as_deref() {
        Some(c) if c == destination.country => {
            let region = o.region.trim();
            if !region.is_empty() && region.eq_ignore_ascii_case(destination.region.trim()) {
                0
            } else {
                1
            }
        }
        _ => 2,
    };
    let distance = |o: &Origin| match (o.coordinates, destination.coordinates) {
        (Some(a), Some(b)) => Some(a.distance_km(b)),
        _ => None,
    };
    let mut ranked: Vec<&Origin> = origins.iter().collect();
    ranked.sort_by(|a, b| {
        tier(a)
            .cmp(&tier(b))
            .then_with(|| match (distance(a), distance(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| a.priority.cmp(&b.priority))
            .then_with(|| a.location.cmp(&b.location))
    });
    ranked
}

fn covers(wanted: &BTreeMap<VariantId, i32>, set: &[&Origin]) -> bool {
    wanted.iter().all(|(&variant, &quantity)| {
        set.iter().map(|o| i64::from(o.has(variant))).sum::<i64>() >= i64::from(quantity)
    })
}

/// The smallest covering set, nearest first among sets of one size
/// (subsets are tried in lexicographic order of rank). `None` when more
/// than [`MAX_SUBSETS`] subsets would be tried.
fn fewest<'a>(wanted: &BTreeMap<VariantId, i32>, ranked: &[&'a Origin]) -> Option<Vec<&'a Origin>> {
    let n = ranked.len();
    let mut tried = 0usize;
    for k in 1..=n {
        let mut idx: Vec<usize> = (0..k).collect();
        loop {
            tried += 1;
            if tried > MAX_SUBSETS {
                return None;
            }
            let set: Vec<&Origin> = idx.iter().map(|&i| ranked[i]).collect();
            if covers(wanted, &set) {
                return Some(set);
            }
            // Next combination of k out of n, in lexicographic order.
            let Some(pos) = (0..k).rev().find(|&i| idx[i] < n - k + i) else {
                break;
            };
            idx[pos] += 1;
            for j in pos + 1..k {
                idx[j] = idx[j - 1] + 1;
            }
        }
    }
    None
}

/// A cover for many locations: repeatedly the location adding the most
/// missing units, the nearer on ties. Not always the fewest.
fn greedy<'a>(wanted: &BTreeMap<VariantId, i32>, ranked: &[&'a Origin]) -> Vec<&'a Origin> {
    let mut missing = wanted.clone();
    let mut set: Vec<&Origin> = Vec::new();
    while missing.values().any(|&q| q > 0) {
        let best = ranked
            .iter()
            .filter(|o| !set.iter().any(|s| s.location == o.location))
            .map(|o| {
                let adds: i64 = missing
                    .iter()
                    .map(|(&v, &q)| i64::from(o.has(v).min(q)))
                    .sum();
                (adds, *o)
            })
            .filter(|(adds, _)| *adds > 0)
            // `max_by_key` keeps the last maximum; rank order wants the first.
            .fold(None::<(i64, &Origin)>, |best, (adds, o)| match best {
                Some((b, _)) if b >= adds => best,
                _ => Some((adds, o)),
            });
        let Some((_, origin)) = best else { break };
        for (v, q) in missing.iter_mut() {
            *q -= origin.has(*v).min(*q);
        }
        set.push(origin);
    }
    // Keep the rank order for the assignment.
    set.sort_by_key(|o| ranked.iter().position(|r| r.location == o.location));
    set
}

/// Each line whole from the nearest location of `set` that has it all,
/// else split nearest first. `set` covers `wanted` and is nearest first.
fn assign(wanted: &BTreeMap<VariantId, i32>, set: &[&Origin]) -> Plan {
    let mut parts: Vec<(LocationId, Vec<PlanLine>)> =
        set.iter().map(|o| (o.location, Vec::new())).collect();
    for (&variant, &quantity) in wanted {
        if let Some(i) = set.iter().position(|o| o.has(variant) >= quantity) {
            parts[i].1.push(PlanLine { variant, quantity });
            continue;
        }
        let mut left = quantity;
        for (i, origin) in set.iter().enumerate() {
            let take = origin.has(variant).min(left);
            if take > 0 {
                parts[i].1.push(PlanLine {
                    variant,
                    quantity: take,
                });
                left -= take;
            }
            if left == 0 {
                break;
            }
        }
    }
    Plan {
        shipments: parts
            .into_iter()
            .filter(|(_, lines)| !lines.is_empty())
            .map(|(location, lines)| PlannedShipment { location, lines })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn loc(n: u128) -> LocationId {
        LocationId::from_uuid(Uuid::from_u128(n))
    }

    fn var(n: u128) -> VariantId {
        VariantId::from_uuid(Uuid::from_u128(1000 + n))
    }

    fn origin(
        n: u128,
        country: &str,
        region: &str,
        at: (f64, f64),
        stock: &[(u128, i32)],
    ) -> Origin {
        Origin {
            location: loc(n),
            country: Some(country.to_owned()),
            region: region.to_owned(),
            postal_code: String::new(),
            coordinates: Coordinates::new(at.0, at.1),
            priority: 0,
            available: stock.iter().map(|&(v, q)| (var(v), q)).collect(),
        }
    }

    fn line(v: u128, quantity: i32) -> PlanLine {
        PlanLine {
            variant: var(v),
            quantity,
        }
    }

    /// Berlin, Hamburg, Munich, Paris.
    const BERLIN: (f64, f64) = (52.52, 13.405);
    const HAMBURG: (f64, f64) = (53.55, 9.99);
    const MUNICH: (f64, f64) = (48.14, 11.58);
    const PARIS: (f64, f64) = (48.86, 2.35);

    fn to_berlin() -> Destination {
        Destination {
            country: "DE".into(),
            region: "BE".into(),
            postal_code: "10115".into(),
            coordinates: Coordinates::new(BERLIN.0, BERLIN.1),
        }
    }

    /// The first example: a three-line order whose stock sits in two
    /// warehouses is split in two shipments from the nearest locations.
    #[test]
    fn three_lines_in_two_warehouses_ship_in_two_from_the_nearest() {
        let origins = [
            origin(2, "DE", "HH", HAMBURG, &[(1, 2), (2, 1)]),
            origin(3, "DE", "BY", MUNICH, &[(1, 2), (2, 1)]),
            origin(4, "FR", "IDF", PARIS, &[(3, 4)]),
            origin(5, "DE", "BY", MUNICH, &[(3, 4)]),
        ];
        let plan = plan(
            &[line(1, 2), line(2, 1), line(3, 4)],
            &to_berlin(),
            &origins,
        )
        .expect("plannable");
        // Hamburg is nearer Berlin than Munich; Munich (DE) beats Paris.
        assert_eq!(
            plan.shipments,
            vec![
                PlannedShipment {
                    location: loc(2),
                    lines: vec![line(1, 2), line(2, 1)]
                },
                PlannedShipment {
                    location: loc(5),
                    lines: vec![line(3, 4)]
                },
            ]
        );
    }

    /// The second example: one warehouse that can serve the whole
    /// order ships it, although another is nearer for one line.
    #[test]
    fn one_warehouse_that_has_everything_wins_over_a_nearer_one_for_a_line() {
        let origins = [
            origin(1, "DE", "BE", BERLIN, &[(1, 3)]),
            origin(2, "DE", "BY", MUNICH, &[(1, 3), (2, 2), (3, 1)]),
        ];
        let plan = plan(
            &[line(1, 3), line(2, 2), line(3, 1)],
            &to_berlin(),
            &origins,
        )
        .expect("plannable");
        assert_eq!(
            plan.shipments,
            vec![PlannedShipment {
                location: loc(2),
                lines: vec![line(1, 3), line(2, 2), line(3, 1)]
            }]
        );
    }

    #[test]
    fn nearness_is_region_then_country_then_distance_then_priority() {
        let all = [(1, 1)];
        // Same region beats a nearer location in another region.
        let mut far_same_region = origin(1, "DE", "BE", MUNICH, &all);
        let near_other_region = origin(2, "DE", "BB", BERLIN, &all);
        let p = plan(
            &[line(1, 1)],
            &to_berlin(),
            &[near_other_region.clone(), far_same_region.clone()],
        );
        assert_eq!(p.expect("plannable").shipments[0].location, loc(1));
        // Same country beats a nearer foreign location.
        far_same_region.region = "BY".into();
        let near_abroad = origin(3, "PL", "MZ", BERLIN, &all);
        let p = plan(
            &[line(1, 1)],
            &to_berlin(),
            &[near_abroad, far_same_region.clone()],
        );
        assert_eq!(p.expect("plannable").shipments[0].location, loc(1));
        // Equal tier: distance; equal distance: priority.
        let p = plan(
            &[line(1, 1)],
            &to_berlin(),
            &[far_same_region.clone(), near_other_region.clone()],
        );
        assert_eq!(p.expect("plannable").shipments[0].location, loc(2));
        let mut twin = origin(4, "DE", "BB", BERLIN, &all);
        twin.priority = -1;
        let p = plan(&[line(1, 1)], &to_berlin(), &[near_other_region, twin]);
        assert_eq!(p.expect("plannable").shipments[0].location, loc(4));
    }

    #[test]
    fn a_line_no_set_of_locations_has_whole_is_split() {
        let origins = [
            origin(1, "DE", "BE", BERLIN, &[(1, 3)]),
            origin(2, "DE", "BY", MUNICH, &[(1, 4)]),
        ];
        let plan = plan(&[line(1, 6)], &to_berlin(), &origins).expect("plannable");
        assert_eq!(
            plan.shipments,
            vec![
                PlannedShipment {
                    location: loc(1),
                    lines: vec![line(1, 3)]
                },
                PlannedShipment {
                    location: loc(2),
                    lines: vec![line(1, 3)]
                },
            ]
        );
    }

    #[test]
    fn too_few_units_everywhere_is_unplannable() {
        let origins = [
            origin(1, "DE", "BE", BERLIN, &[(1, 3)]),
            origin(2, "DE", "BY", MUNICH, &[(2, 1)]),
        ];
        let err = plan(&[line(1, 4), line(2, 1)], &to_berlin(), &origins).expect_err("unplannable");
        assert_eq!(err.short, vec![(line(1, 4), 3)]);
    }

    #[test]
    fn coordinates_are_checked_and_distances_are_sane() {
        assert!(Coordinates::new(90.1, 0.0).is_none());
        assert!(Coordinates::new(0.0, -180.1).is_none());
        let berlin = Coordinates::new(BERLIN.0, BERLIN.1).expect("valid coordinates");
        let paris = Coordinates::new(PARIS.0, PARIS.1).expect("valid coordinates");
        let d = berlin.distance_km(paris);
        assert!((870.0..890.0).contains(&d), "{d}");
    }

    fn arb_origins() -> impl Strategy<Value = Vec<Origin>> {
        let one = (
            prop::sample::select(vec!["DE", "FR"]),
            prop::sample::select(vec!["A", "B"]),
            prop::option::of((-60.0f64..60.0, -60.0f64..60.0)),
            0i32..3,
            prop::collection::btree_map(0u128..4, 0i32..6, 0..4),
        );
        prop::collection::vec(one, 0..6).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (country, region, at, priority, stock))| Origin {
                    location: loc(i as u128),
                    country: Some(country.to_owned()),
                    region: region.to_owned(),
                    postal_code: String::new(),
                    coordinates: at.and_then(|(a, b)| Coordinates::new(a, b)),
                    priority,
                    available: stock.into_iter().map(|(v, q)| (var(v), q)).collect(),
                })
                .collect()
        })
    }

    fn arb_lines() -> impl Strategy<Value = Vec<PlanLine>> {
        prop::collection::btree_map(0u128..4, 1i32..8, 1..4)
            .prop_map(|m| m.into_iter().map(|(v, q)| line(v, q)).collect())
    }

    fn total(lines: &[PlanLine], variant: VariantId) -> i64 {
        lines
            .iter()
            .filter(|l| l.variant == variant)
            .map(|l| i64::from(l.quantity))
            .sum()
    }

    proptest! {
        #[test]
        fn every_unit_is_planned_once_within_stock_on_the_fewest_locations(
            lines in arb_lines(),
            origins in arb_origins(),
            region in prop::sample::select(vec!["A", "B"]),
        ) {
            let destination = Destination {
                country: "DE".into(),
                region: region.into(),
                postal_code: String::new(),
                coordinates: Coordinates::new(10.0, 10.0),
            };
            let coverable = |set: &[&Origin]| lines.iter().all(|l| {
                set.iter().map(|o| i64::from(o.has(l.variant))).sum::<i64>() >= i64::from(l.quantity)
            });
            let all: Vec<&Origin> = origins.iter().collect();
            match plan(&lines, &destination, &origins) {
                Err(e) => {
                    prop_assert!(!coverable(&all));
                    prop_assert!(!e.short.is_empty());
                }
                Ok(p) => {
                    prop_assert!(coverable(&all));
                    let shipped: Vec<PlanLine> =
                        p.shipments.iter().flat_map(|s| s.lines.clone()).collect();
                    // Every unit exactly once.
                    for l in &lines {
                        prop_assert_eq!(total(&shipped, l.variant), i64::from(l.quantity));
                    }
                    prop_assert_eq!(shipped.len() >= lines.len(), true);
                    for s in &p.shipments {
                        prop_assert!(!s.lines.is_empty());
                        prop_assert!(s.lines.iter().all(|l| l.quantity > 0));
                        // Never more than a location has.
                        let o = origins.iter().find(|o| o.location == s.location).expect("a planned location is an origin");
                        for l in &s.lines {
                            prop_assert!(total(&s.lines, l.variant) <= i64::from(o.has(l.variant)));
                        }
                    }
                    // Each location at most once.
                    let mut locs: Vec<LocationId> = p.shipments.iter().map(|s| s.location).collect();
                    locs.sort();
                    locs.dedup();
                    prop_assert_eq!(locs.len(), p.shipments.len());
                    // The fewest locations: no smaller set covers the order.
                    let k = p.shipments.len();
                    for mask in 0u32..(1 << origins.len()) {
                        if (mask.count_ones() as usize) < k {
                            let set: Vec<&Origin> = origins
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| mask & (1 << i) != 0)
                                .map(|(_, o)| o)
                                .collect();
                            prop_assert!(!coverable(&set), "{} locations would do", set.len());
                        }
                    }
                    // One location when one suffices: the nearest such.
                    let ranked = rank(&destination, &origins);
                    if let Some(first) = ranked.iter().find(|o| coverable(&[o])) {
                        prop_assert_eq!(k, 1);
                        prop_assert_eq!(p.shipments[0].location, first.location);
                    }
                    // Deterministic, whatever the input order.
                    let mut reversed = origins.clone();
                    reversed.reverse();
                    prop_assert_eq!(plan(&lines, &destination, &reversed), Ok(p));
                }
            }
        }
    }
}
