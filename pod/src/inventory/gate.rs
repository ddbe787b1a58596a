//! The hot-SKU gate: Redis Lua counters of available units in front of
//! Postgres (the argument for why it never underestimates for long is in
//! the module docs of [`crate::inventory`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use mercato_tenants::{StoreId, VariantId};
use redis::aio::ConnectionManager;
use redis::Script;

use super::{HoldLine, Shortage};
use crate::keys;
use crate::state::AppState;

/// How long a counter lives without reconciliation touching it.
const COUNTER_TTL_SECS: u64 = 3600;

/// Admits all lines or none. Reply: `{1}` admitted; `{0, i, n, ...}`
/// rejected, with each short line's (1-based) index and counter; `{-1, i,
/// ...}` the counters of these lines are missing (nothing changed).
static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local short = {}
local missing = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('HGET', key, 'n')
  if not n then
    missing[#missing + 1] = i
  elseif tonumber(n) < tonumber(ARGV[i]) then
    short[#short + 1] = i
    short[#short + 1] = tonumber(n)
  end
end
if #missing > 0 then
  table.insert(missing, 1, -1)
  return missing
end
if #short > 0 then
  table.insert(short, 1, 0)
  return short
end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'n', -tonumber(ARGV[i]))
  redis.call('HINCRBY', key, 'v', 1)
end
return {1}
",
    )
});

/// Creates a counter if it is missing and tracks its variant. KEYS: the
/// counter, the store's tracked set; ARGV: units, ttl, variant.
static SEED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'n', ARGV[1], 'v', 0)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
",
    )
});

/// Puts units back into the counters that exist.
static PUT_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'n', ARGV[i])
    redis.call('HINCRBY', key, 'v', 1)
  end
end
return 1
",
    )
});

/// Sets a counter only if its version is still the one read. KEYS: the
/// counter, the tracked set; ARGV: version, units, ttl, variant. A missing
/// counter is untracked (atomically, so a concurrent seed is never lost).
static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then
  redis.call('SREM', KEYS[2], ARGV[4])
  return -1
end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'n', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

/// What the gate said about a reservation.
pub(crate) enum Admission {
    /// Units taken from the counters; put them back if Postgres refuses.
    Admitted(Vec<(VariantId, i32)>),
    /// Not enough units by the counters: refuse without asking Postgres.
    Rejected(Vec<Shortage>),
    /// No gate (off, or Redis unavailable): Postgres decides alone.
    Bypassed,
}

enum Reply {
    Admitted,
    Rejected(Vec<(usize, i64)>),
    Missing(Vec<usize>),
}

fn parse_reply(reply: &[i64]) -> Option<Reply> {
    let idx = |i: i64| usize::try_from(i).ok().and_then(|i| i.checked_sub(1));
    match reply.split_first()? {
        (1, _) => Some(Reply::Admitted),
        (0, rest) => rest
            .chunks(2)
            .map(|c| match c {
                [i, n] => Some((idx(*i)?, *n)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Reply::Rejected),
        (-1, rest) => rest
            .iter()
            .map(|i| idx(*i))
            .collect::<Option<Vec<_>>>()
            .map(Reply::Missing),
        _ => None,
    }
}

/// Asks the gate for `lines` (distinct variants).
pub(crate) async fn admit(state: &AppState, store: StoreId, lines: &[HoldLine]) -> Admission {
    let metrics = &state.gate_metrics;
    if !state.config.inventory.gate || lines.is_empty() {
        metrics.inc("bypassed");
        return Admission::Bypassed;
    }
    let Ok(mut conn) = state.redis.connection().await else {
        metrics.inc("bypassed");
        return Admission::Bypassed;
    };
    for attempt in 0..2 {
        let mut call = ADMIT.prepare_invoke();
        for line in lines {
            call.key(keys::inventory_gate(store, line.variant));
        }
        for line in lines {
            call.arg(line.quantity);
        }
        let reply = match call.invoke_async::<Vec<i64>>(&mut conn).await {
            Ok(r) => parse_reply(&r),
            Err(e) => {
                state.redis.failed();
                tracing::warn!(error = %e, "inventory gate failed; reserving in postgres alone");
                None
            }
        };
        match reply {
            Some(Reply::Admitted) => {
                metrics.inc("admitted");
                return Admission::Admitted(
                    lines.iter().map(|l| (l.variant, l.quantity)).collect(),
                );
            }
            Some(Reply::Rejected(short)) => {
                metrics.inc("rejected");
                let shortages = short
                    .into_iter()
                    .filter_map(|(i, n)| {
                        lines.get(i).map(|l| Shortage {
                            variant_id: l.variant,
                            requested: l.quantity,
                            available: n.clamp(0, i64::from(i32::MAX)) as i32,
                        })
                    })
                    .collect();
                return Admission::Rejected(shortages);
            }
            Some(Reply::Missing(missing)) if attempt == 0 => {
                let variants: Vec<VariantId> = missing
                    .iter()
                    .filter_map(|i| lines.get(*i).map(|l| l.variant))
                    .collect();
                if let Err(e) = seed(state, &mut conn, store, &variants).await {
                    tracing::warn!(error = %e, "seeding the inventory gate failed");
                    break;
                }
            }
            Some(Reply::Missing(_)) | None => break,
        }
    }
    metrics.inc("bypassed");
    Admission::Bypassed
}

/// Creates the missing counters of `variants` from Postgres.
async fn seed(
    state: &AppState,
    conn: &mut ConnectionManager,
    store: StoreId,
    variants: &[VariantId],
) -> anyhow::Result<()> {
    let levels = super::levels(&state.db, store, variants).await?;
    for variant in variants {
        let available = levels.get(variant).map_or(0, |l| l.available.max(0));
        let created: i64 = SEED
            .key(keys::inventory_gate(store, *variant))
            .key(keys::inventory_gated(store))
            .arg(available)
            .arg(COUNTER_TTL_SECS)
            .arg(variant.to_string())
            .invoke_async(conn)
            .await
            .inspect_err(|_| state.redis.failed())?;
        if created == 1 {
            state.gate_metrics.inc("seeded");
        }
    }
    Ok(())
}

/// Puts units back into the counters (after a release committed, or when
/// Postgres refused what the gate admitted). Counters that are missing
/// stay missing: they reseed from Postgres.
pub(crate) async fn put_back(state: &AppState, store: StoreId, units: &[(VariantId, i32)]) {
    let mut sums: HashMap<VariantId, i64> = HashMap::new();
    for (v, q) in units {
        *sums.entry(*v).or_default() += i64::from(*q);
    }
    sums.retain(|_, q| *q > 0);
    if !state.config.inventory.gate || sums.is_empty() {
        return;
    }
    let Ok(mut conn) = state.redis.connection().await else {
        return;
    };
    let mut call = PUT_BACK.prepare_invoke();
    let sums: Vec<(VariantId, i64)> = sums.into_iter().collect();
    for (v, _) in &sums {
        call.key(keys::inventory_gate(store, *v));
    }
    for (_, q) in &sums {
        call.arg(*q);
    }
    if let Err(e) = call.invoke_async::<i64>(&mut conn).await {
        state.redis.failed();
        tracing::warn!(error = %e, "putting units back into the inventory gate failed; reconciliation repairs it");
    }
}

/// After a commit that changed stock outside [`super::reserve`] and
/// [`super::release`] (staff edits, restocks): drops the counters of
/// `variants` so they reseed from Postgres.
pub async fn refresh_gate(state: &AppState, store: StoreId, variants: &[VariantId]) {
    if variants.is_empty() {
        return;
    }
    let Ok(mut conn) = state.redis.connection().await else {
        return;
    };
    let keys: Vec<String> = variants
        .iter()
        .map(|v| keys::inventory_gate(store, *v))
        .collect();
    if let Err(e) = redis::cmd("DEL")
        .arg(&keys)
        .query_async::<i64>(&mut conn)
        .await
    {
        state.redis.failed();
        tracing::warn!(error = %e, "dropping inventory gate counters failed; reconciliation repairs them");
    }
}

/// One reconciliation round for `store`: every tracked counter that
/// differs from Postgres is set to it, by compare-and-set on its version.
/// Returns how many counters were repaired.
pub(crate) async fn reconcile_store(
    state: &AppState,
    conn: &mut ConnectionManager,
    store: StoreId,
) -> anyhow::Result<usize> {
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys::inventory_gated(store))
        .query_async(conn)
        .await?;
    let variants: Vec<VariantId> = members.iter().filter_map(|m| m.parse().ok()).collect();
    let mut repaired = 0;
    for chunk in variants.chunks(500) {
        // Versions first, then Postgres: see the module docs.
        let mut pipe = redis::pipe();
        for v in chunk {
            pipe.cmd("HMGET")
                .arg(keys::inventory_gate(store, *v))
                .arg("n")
                .arg("v");
        }
        let seen: Vec<(Option<i64>, Option<String>)> = pipe.query_async(conn).await?;
        let levels = super::levels(&state.db, store, chunk).await?;
        for (variant, (n, version)) in chunk.iter().zip(seen) {
            let truth = i64::from(levels.get(variant).map_or(0, |l| l.available.max(0)));
            if n == Some(truth) {
                continue;
            }
            let set: i64 = COMPARE_AND_SET
                .key(keys::inventory_gate(store, *variant))
                .key(keys::inventory_gated(store))
                .arg(version.unwrap_or_default())
                .arg(truth)
                .arg(COUNTER_TTL_SECS)
                .arg(variant.to_string())
                .invoke_async(conn)
                .await?;
            if set == 1 {
                repaired += 1;
                tracing::info!(%store, %variant, was = ?n, now = truth, "inventory gate counter repaired");
            }
        }
    }
    Ok(repaired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse() {
        assert!(matches!(parse_reply(&[1]), Some(Reply::Admitted)));
        assert!(matches!(
            parse_reply(&[0, 2, 3]),
            Some(Reply::Rejected(v)) if v == vec![(1, 3)]
        ));
        assert!(matches!(
            parse_reply(&[-1, 1, 3]),
            Some(Reply::Missing(v)) if v == vec![0, 2]
        ));
        assert!(parse_reply(&[]).is_none());
        assert!(parse_reply(&[0, 1]).is_none());
        assert!(parse_reply(&[-1, 0]).is_none());
        assert!(parse_reply(&[7]).is_none());
    }
}
