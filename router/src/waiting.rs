//! The checkout waiting room's decisions, as plain data: a store's
//! [`Room`] at one router, the events that reach it (a checkout arrives,
//! with or without a [`Ticket`]; a checkout finishes; time passes) and what
//! to do ([`Decision`]). No I/O and no locks here: [`crate::waiting_room`]
//! keeps one `Room` per store behind a mutex and turns decisions into
//! answers.
//!
//! The model is a bakery's: tickets are numbered in arrival order, and a
//! "now calling" counter moves along them. While fewer than
//! `max_in_flight` checkouts of the store are in flight and nobody waits, a
//! checkout goes straight in. Otherwise it gets the next number. When a
//! checkout finishes, the slot it frees goes to the lowest number not yet
//! called, and is held for that ticket for `call_grace` (its holder comes
//! back on its own, after the wait it was told); a newcomer never takes a
//! held slot. A holder that comes back after its grace lost its turn and
//! queues again; a ticket is admitted at most once.
//!
//! Tickets are signed (HMAC-SHA256) with a key the routers share, so any
//! router verifies any router's ticket. The queue itself is per router:
//! a ticket carries the [`Room`] it was issued by; another room's valid
//! ticket (another router, or this one before it restarted) is admitted
//! when a slot is free and otherwise queued afresh.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hmac::{Hmac, Mac};
use mercato_tenants::StoreId;
use sha2::Sha256;
use tokio::time::Instant;

/// A room's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    /// Checkouts of one store in flight at once (through this router).
    pub max_in_flight: u32,
    /// How long a called ticket's slot is held for its holder.
    pub call_grace: Duration,
    /// How long a ticket is valid after it is issued.
    pub ticket_ttl: Duration,
}

/// The two clocks an event is seen at: the monotonic one for slots held and
/// durations, the wall clock (Unix milliseconds) for ticket expiry, which
/// other routers check too.
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub mono: Instant,
    pub unix_ms: i64,
}

/// A queue ticket, as signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub store: StoreId,
    /// The room (router process and store) that issued it.
    pub room: u64,
    /// Its number in that room, from 0.
    pub seq: u64,
    /// Valid until this Unix time, in milliseconds.
    pub expires_ms: i64,
}

/// Why a ticket is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the queue ticket is malformed or its signature does not match")]
    Invalid,
    #[error("the queue ticket has expired; check out again without it to get a new one")]
    Expired,
    #[error("the queue ticket belongs to another store")]
    OtherStore,
    #[error("the queue ticket was already used; check out again without it")]
    Used,
}

const TICKET_VERSION: &str = "wr1";

type HmacSha256 = Hmac<Sha256>;

/// The key that signs tickets, derived from the routers' hop secret under
/// its own label: a ticket is not a hop signature, nor the other way round.
pub fn ticket_key(hop_secret: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(hop_secret).expect("HMAC takes keys of any length");
    mac.update(b"mercato waiting-room ticket key v1");
    mac.finalize().into_bytes().into()
}

impl Ticket {
    fn text(&self) -> String {
        format!(
            "{TICKET_VERSION}.{}.{:x}.{}.{}",
            self.store, self.room, self.seq, self.expires_ms
        )
    }

    fn mac(key: &[u8], text: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(text.as_bytes());
        mac
    }

    /// The header value: `wr1.<store>.<room hex>.<seq>.<expires ms>.<hmac hex>`.
    pub fn encode(&self, key: &[u8]) -> String {
        let text = self.text();
        let tag = Self::mac(key, &text).finalize().into_bytes();
        format!("{text}.{}", hex::encode(tag))
    }

    /// Parses and checks a ticket presented for `store` at `now_ms`.
    pub fn verify(key: &[u8], raw: &str, store: StoreId, now_ms: i64) -> Result<Self, TicketError> {
        let (text, tag) = raw.rsplit_once('.').ok_or(TicketError::Invalid)?;
        let tag = hex::decode(tag).map_err(|_| TicketError::Invalid)?;
        Self::mac(key, text)
            .verify_slice(&tag)
            .map_err(|_| TicketError::Invalid)?;
        let mut parts = text.split('.');
        let mut next = || parts.next().ok_or(TicketError::Invalid);
        if next()? != TICKET_VERSION {
            return Err(TicketError::Invalid);
        }
        let ticket = Ticket {
            store: next()?.parse().map_err(|_| TicketError::Invalid)?,
            room: u64::from_str_radix(next()?, 16).map_err(|_| TicketError::Invalid)?,
            seq: next()?.parse().map_err(|_| TicketError::Invalid)?,
            expires_ms: next()?.parse().map_err(|_| TicketError::Invalid)?,
        };
        if parts.next().is_some() {
            return Err(TicketError::Invalid);
        }
        if ticket.store != store {
            return Err(TicketError::OtherStore);
        }
        if now_ms > ticket.expires_ms {
            return Err(TicketError::Expired);
        }
        Ok(ticket)
    }
}

/// What to do with an arriving checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it; report [`Room::done`] when it finishes.
    Admit { with_ticket: bool },
    /// Not now: hold `ticket` (new, or the one presented) and come back
    /// after `wait`; `position` is 1 for the next to be called.
    Queued {
        ticket: Ticket,
        position: u64,
        wait: Duration,
        /// A new ticket was issued (not the one presented).
        new: bool,
    },
    /// The ticket presented cannot be used.
    Refused(TicketError),
}

/// Shortest wait announced, so clients do not spin.
pub const MIN_WAIT: Duration = Duration::from_millis(50);

/// One store's queue at one router.
#[derive(Debug, Clone)]
pub struct Room {
    store: StoreId,
    id: u64,
    limits: RoomLimits,
    in_flight: u32,
    /// The next number to issue.
    issued: u64,
    /// Numbers below this have been called.
    called: u64,
    /// Called tickets whose holders have not come back: the slot is held
    /// for them until then.
    held: BTreeMap<u64, Instant>,
    /// Tickets admitted or spent, by (room, seq), kept until they expire
    /// (an expired ticket is refused before it gets here).
    used: HashMap<(u64, u64), i64>,
    /// Moving average of a checkout's duration, in milliseconds.
    avg_ms: f64,
}

/// A first guess at a checkout's duration, before any has finished.
const FIRST_GUESS_MS: f64 = 500.0;

impl Room {
    /// A room; `id` should differ between rooms (a random number), so that
    /// tickets of a room that was dropped or of another router are known
    /// as such.
    pub fn new(store: StoreId, id: u64, limits: RoomLimits) -> Self {
        Self {
            store,
            id,
            limits,
            in_flight: 0,
            issued: 0,
            called: 0,
            held: BTreeMap::new(),
            used: HashMap::new(),
            avg_ms: FIRST_GUESS_MS,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Tickets issued and not yet called.
    pub fn waiting(&self) -> u64 {
        self.issued - self.called
    }

    /// Slots held for called tickets.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn free(&self) -> u64 {
        u64::from(self.limits.max_in_flight.max(1))
            .saturating_sub(u64::from(self.in_flight) + self.held.len() as u64)
    }

    /// Nothing in flight, waiting, held or remembered: the room may go.
    pub fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.waiting() == 0 && self.held.is_empty() && self.used.is_empty()
    }

    /// A checkout arrives, with the ticket it presents (already verified
    /// for this store and time by [`Ticket::verify`]).
    pub fn arrive(&mut self, ticket: Option<Ticket>, at: At) -> Decision {
        self.tick(at);
        let Some(t) = ticket else {
            return self.newcomer(at);
        };
        if t.store != self.store {
            return Decision::Refused(TicketError::OtherStore);
        }
        if self.used.contains_key(&(t.room, t.seq)) {
            return Decision::Refused(TicketError::Used);
        }
        if t.room != self.id {
            // Another router's (or an earlier room's): valid, but its
            // place is not known here.
            self.used.insert((t.room, t.seq), t.expires_ms);
            if self.free() > 0 {
                self.in_flight += 1;
                return Decision::Admit { with_ticket: true };
            }
            return self.issue(at);
        }
        if t.seq >= self.issued {
            // Signed by a router that shares our key and our room id:
            // not something a client can make.
            return Decision::Refused(TicketError::Invalid);
        }
        if self.held.remove(&t.seq).is_some() {
            self.used.insert((t.room, t.seq), t.expires_ms);
            self.in_flight += 1;
            return Decision::Admit { with_ticket: true };
        }
        if t.seq >= self.called {
            return Decision::Queued {
                ticket: t,
                position: t.seq - self.called + 1,
                wait: self.wait_for(t.seq - self.called + 1),
                new: false,
            };
        }
        // Called, and its grace ran out: spent; queue again.
        self.used.insert((t.room, t.seq), t.expires_ms);
        self.newcomer(at)
    }

    /// A checkout admitted here finished after `took`.
    pub fn done(&mut self, took: Duration, at: At) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let ms = took.as_secs_f64() * 1e3;
        self.avg_ms = 0.8 * self.avg_ms + 0.2 * ms;
        self.tick(at);
    }

    /// Time passes: holds run out, freed slots are called, spent tickets
    /// past their expiry are forgotten.
    pub fn tick(&mut self, at: At) {
        self.held.retain(|_, until| *until > at.mono);
        while self.waiting() > 0 && self.free() > 0 {
            self.held
                .insert(self.called, at.mono + self.limits.call_grace);
            self.called += 1;
        }
        self.used.retain(|_, expires| *expires >= at.unix_ms);
    }

    fn newcomer(&mut self, at: At) -> Decision {
        if self.waiting() == 0 && self.free() > 0 {
            self.in_flight += 1;
            return Decision::Admit { with_ticket: false };
        }
        self.issue(at)
    }

    fn issue(&mut self, at: At) -> Decision {
        let seq = self.issued;
        self.issued += 1;
        let ttl = i64::try_from(self.limits.ticket_ttl.as_millis()).unwrap_or(i64::MAX);
        let ticket = Ticket {
            store: self.store,
            room: self.id,
            seq,
            expires_ms: at.unix_ms.saturating_add(ttl),
        };
        let position = seq - self.called + 1;
        Decision::Queued {
            ticket,
            position,
            wait: self.wait_for(position),
            new: true,
        }
    }

    /// About when `position` will be called: one average checkout per
    /// `max_in_flight` ahead of it.
    fn wait_for(&self, position: u64) -> Duration {
        let per_slot = self.avg_ms / f64::from(self.limits.max_in_flight.max(1));
        Duration::from_secs_f64((per_slot * position as f64 / 1e3).min(3600.0)).max(MIN_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    const LIMITS: RoomLimits = RoomLimits {
        max_in_flight: 2,
        call_grace: Duration::from_secs(5),
        ticket_ttl: Duration::from_secs(600),
    };

    fn at(start: Instant, ms: u64) -> At {
        At {
            mono: start + Duration::from_millis(ms),
            unix_ms: 1_700_000_000_000 + ms as i64,
        }
    }

    fn queued(d: Decision) -> (Ticket, u64) {
        match d {
            Decision::Queued {
                ticket, position, ..
            } => (ticket, position),
            other => panic!("expected a ticket, got {other:?}"),
        }
    }

    #[test]
    fn tickets_verify_and_any_change_does_not() {
        let key = ticket_key(b"hop");
        let store = StoreId::new();
        let t = Ticket {
            store,
            room: 0xabc,
            seq: 7,
            expires_ms: 2_000,
        };
        let raw = t.encode(&key);
        assert_eq!(Ticket::verify(&key, &raw, store, 1_000), Ok(t));
        assert_eq!(
            Ticket::verify(&ticket_key(b"other"), &raw, store, 1_000),
            Err(TicketError::Invalid)
        );
        assert_eq!(
            Ticket::verify(&key, &raw, StoreId::new(), 1_000),
            Err(TicketError::OtherStore)
        );
        assert_eq!(
            Ticket::verify(&key, &raw, store, 2_001),
            Err(TicketError::Expired)
        );
        let bumped = raw.replacen(".7.", ".1.", 1);
        assert_eq!(
            Ticket::verify(&key, &bumped, store, 1_000),
            Err(TicketError::Invalid)
        );
        for junk in ["", ".", "wr1", "abc.def", "wr1.x.y.z.w.00", "\u{0}"] {
            assert_eq!(
                Ticket::verify(&key, junk, store, 1_000),
                Err(TicketError::Invalid),
                "{junk:?}"
            );
        }
        // The hop secret itself does not sign tickets.
        assert_ne!(&ticket_key(b"hop")[..], b"hop");
    }

    #[test]
    fn a_full_room_queues_and_the_called_ticket_goes_before_newcomers() {
        let start = Instant::now();
        let store = StoreId::new();
        let mut room = Room::new(store, 1, LIMITS);
        let t0 = at(start, 0);
        assert_eq!(
            room.arrive(None, t0),
            Decision::Admit { with_ticket: false }
        );
        assert_eq!(
            room.arrive(None, t0),
            Decision::Admit { with_ticket: false }
        );
        let (a, pos_a) = queued(room.arrive(None, t0));
        let (b, pos_b) = queued(room.arrive(None, t0));
        assert_eq!((pos_a, pos_b), (1, 2));
        // Early: still waiting, same place.
        assert_eq!(queued(room.arrive(Some(b), t0)), (b, 2));
        room.done(Duration::from_millis(100), at(start, 100));
        // A slot freed and `a` was called: a newcomer does not take it.
        let (_, pos_c) = queued(room.arrive(None, at(start, 110)));
        assert_eq!(pos_c, 2, "behind b");
        assert_eq!(queued(room.arrive(Some(b), at(start, 110))), (b, 1));
        assert_eq!(
            room.arrive(Some(a), at(start, 120)),
            Decision::Admit { with_ticket: true }
        );
        assert_eq!(
            room.arrive(Some(a), at(start, 130)),
            Decision::Refused(TicketError::Used)
        );
    }

    #[test]
    fn a_holder_who_comes_back_too_late_queues_again() {
        let start = Instant::now();
        let mut room = Room::new(StoreId::new(), 1, LIMITS);
        for _ in 0..2 {
            room.arrive(None, at(start, 0));
        }
        let (late, _) = queued(room.arrive(None, at(start, 0)));
        room.done(Duration::from_millis(10), at(start, 10));
        assert_eq!(room.held(), 1);
        // Grace is 5 s; back after 6 s: the slot went back to the pool.
        let again = room.arrive(Some(late), at(start, 6_010));
        assert_eq!(again, Decision::Admit { with_ticket: false });
        assert_eq!(
            room.arrive(Some(late), at(start, 6_020)),
            Decision::Refused(TicketError::Used)
        );
    }

    #[test]
    fn another_rooms_ticket_is_admitted_when_a_slot_is_free_and_only_once() {
        let start = Instant::now();
        let store = StoreId::new();
        let mut room = Room::new(store, 1, LIMITS);
        let foreign = Ticket {
            store,
            room: 99,
            seq: 40,
            expires_ms: at(start, 0).unix_ms + 60_000,
        };
        assert_eq!(
            room.arrive(Some(foreign), at(start, 0)),
            Decision::Admit { with_ticket: true }
        );
        assert_eq!(
            room.arrive(Some(foreign), at(start, 1)),
            Decision::Refused(TicketError::Used)
        );
        room.arrive(None, at(start, 2));
        let other = Ticket { seq: 41, ..foreign };
        let (fresh, pos) = queued(room.arrive(Some(other), at(start, 3)));
        assert_eq!((fresh.room, pos), (1, 1), "queued here afresh");
    }

    #[derive(Debug, Clone)]
    enum Event {
        New,
        /// Come back with the i-th held ticket (modulo how many).
        Back(usize),
        /// A checkout in flight finishes.
        Done,
        Wait(u64),
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        prop::collection::vec(
            prop_oneof![
                3 => Just(Event::New),
                4 => any::<usize>().prop_map(Event::Back),
                3 => Just(Event::Done),
                1 => (0u64..7_000).prop_map(Event::Wait),
            ],
            0..200,
        )
    }

    proptest! {
        /// Tickets are called in the order issued, none is admitted twice,
        /// a newcomer never goes in while a ticket waits or holds a slot,
        /// the room never exceeds its limit, and a ticket's position only
        /// goes down.
        #[test]
        fn fifo_once_and_positions_only_go_down(events in events(), max in 1u32..4) {
            // Tickets outlive the run (an expired one never reaches a room).
            let limits = RoomLimits { max_in_flight: max, ticket_ttl: Duration::from_secs(86_400), ..LIMITS };
            let start = Instant::now();
            let mut clock = 0u64;
            let mut room = Room::new(StoreId::new(), 7, limits);
            let mut held: Vec<Ticket> = Vec::new();
            let mut last_position: HashMap<u64, u64> = HashMap::new();
            let mut admitted: HashSet<u64> = HashSet::new();
            let mut in_flight = 0usize;
            for event in events {
                let now = at(start, clock);
                match event {
                    Event::New => {
                        // Holds that ran out by now are gone first.
                        room.tick(now);
                        // (A slot held for a called ticket is never taken:
                        // the limit check below covers it.)
                        let waiting_before = room.waiting();
                        match room.arrive(None, now) {
                            Decision::Admit { with_ticket } => {
                                prop_assert!(!with_ticket);
                                prop_assert_eq!(waiting_before, 0, "a newcomer jumped the queue");
                                in_flight += 1;
                            }
                            Decision::Queued { ticket, position, new, .. } => {
                                prop_assert!(new);
                                prop_assert!(held.iter().all(|h| h.seq < ticket.seq), "numbers grow");
                                last_position.insert(ticket.seq, position);
                                held.push(ticket);
                            }
                            Decision::Refused(e) => prop_assert!(false, "a newcomer refused: {e}"),
                        }
                    }
                    Event::Back(i) if !held.is_empty() => {
                        let t = held[i % held.len()];
                        match room.arrive(Some(t), now) {
                            Decision::Admit { with_ticket: true } => {
                                prop_assert!(admitted.insert(t.seq), "ticket {} admitted twice", t.seq);
                                held.retain(|h| h.seq != t.seq);
                                in_flight += 1;
                            }
                            Decision::Admit { with_ticket: false } => {
                                // Lapsed, went in as a newcomer; its old number is spent.
                                held.retain(|h| h.seq != t.seq);
                                in_flight += 1;
                            }
                            Decision::Queued { ticket, position, new, .. } => {
                                if new {
                                    held.retain(|h| h.seq != t.seq);
                                    last_position.insert(ticket.seq, position);
                                    held.push(ticket);
                                } else {
                                    prop_assert_eq!(ticket, t);
                                    let before = last_position.insert(t.seq, position);
                                    prop_assert!(before.is_none_or(|b| position <= b),
                                        "position went up: {:?} -> {}", before, position);
                                }
                            }
                            Decision::Refused(e) => prop_assert!(false, "a held ticket refused: {e}"),
                        }
                    }
                    Event::Back(_) => {}
                    Event::Done if in_flight > 0 => {
                        in_flight -= 1;
                        room.done(Duration::from_millis(20), now);
                    }
                    Event::Done => {}
                    Event::Wait(ms) => {
                        clock += ms;
                        room.tick(at(start, clock));
                    }
                }
                prop_assert_eq!(room.in_flight() as usize, in_flight);
                prop_assert!(room.in_flight() as usize + room.held() <= max as usize);
                // Called in order: every held (called) number is below
                // every waiting one.
                prop_assert!(room.held.keys().all(|&s| s < room.called));
                // A free slot is never left idle while a ticket waits.
                prop_assert!(room.waiting() == 0 || room.free() == 0);
                // Admitted tickets were each called already.
                prop_assert!(admitted.iter().all(|&s| s < room.called));
                clock += 1;
            }
            // Spent tickets stay refused.
            for seq in admitted {
                let t = Ticket { store: room.store, room: 7, seq, expires_ms: at(start, clock).unix_ms + 1 };
                prop_assert_eq!(room.arrive(Some(t), at(start, clock)), Decision::Refused(TicketError::Used));
            }
        }
    }
}
