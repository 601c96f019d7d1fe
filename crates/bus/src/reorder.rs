//! Turning bus deliveries into each workspace's events in `event_seq` order, each
//! exactly once, with gaps filled from the event log.
//!
//! The bus is not a log: NATS drops what is published while a node is disconnected
//! or too slow, may deliver a message twice across a reconnect, and two publishers
//! of one workspace (a lease moving between nodes) need not be seen in order. The
//! store's event log is the truth; the bus is the fast path. [`Reorder`] sits
//! between the two for one workspace: events are [offered](Reorder::offer) as they
//! arrive, and come out of [`Reorder::ready`] strictly in `event_seq` order, each
//! once. When an event is missing for too long, [`Reorder::take_catch_up`] says
//! which range to read from the log, and [`Reorder::fill`] takes what the read
//! found. [`Reorders`] keeps one per workspace.
//!
//! Pure logic, no I/O, no clock: the caller passes the time in (`now`), so tests
//! can drive it with any schedule.
//!
//! **Bounds.** A workspace holds at most [`ReorderConfig::max_pending`] events
//! from the bus while it waits for a missing one. An event that would go past the
//! bound is not kept: the whole buffer is dropped and a catch-up from the log is
//! due, through the highest `event_seq` seen so far. The log holds all of it, and
//! memory stays bounded whatever the bus does. A [`fill`](Reorder::fill) holds one
//! page of the log read on top of that, until [`ready`](Reorder::ready) drains it:
//! the caller chooses the page size.
//!
//! **When a catch-up is due.** A missing event is asked of the log once the gap has
//! been open for [`ReorderConfig::gap_timeout`], or once
//! [`ReorderConfig::gap_events`] later events wait behind it, whichever comes
//! first; at once after the buffer overflowed; and at once, open-ended, after
//! [`Reorder::connection_lost`] (the bus said it may have dropped messages: only
//! the log knows whether the tail was missed). One read is outstanding at a time.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Bounds of a [`Reorder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReorderConfig {
    /// Most events held per workspace while waiting for a missing one; past it the
    /// buffer is dropped and the log is asked (see the module doc).
    pub max_pending: usize,
    /// How long a missing event is waited for before the log is asked.
    pub gap_timeout: Duration,
    /// How many later events may wait behind a missing one before the log is asked
    /// without waiting for the timeout.
    pub gap_events: usize,
}

impl Default for ReorderConfig {
    fn default() -> Self {
        ReorderConfig { max_pending: 1024, gap_timeout: Duration::from_millis(500), gap_events: 64 }
    }
}

/// A range of the event log to read: the events whose `event_seq` is above `after`
/// and at most `through`, or, when `through` is `None`, every event after `after`
/// up to the log's end (after a connection loss, the last event is not known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatchUp {
    pub after: u64,
    pub through: Option<u64>,
}

/// What [`Reorder::offer`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// Kept: it comes out of [`Reorder::ready`] in its turn.
    Accepted,
    /// Already delivered or already held: dropped.
    Duplicate,
    /// The buffer was full: it and everything held were dropped, and a catch-up
    /// from the log is due.
    Overflowed,
}

/// One workspace's reordering; see the module doc.
#[derive(Debug)]
pub struct Reorder<E> {
    config: ReorderConfig,
    /// The `event_seq` that comes out next.
    next: u64,
    /// Events above `next`, waiting for their turn.
    pending: BTreeMap<u64, E>,
    /// The highest `event_seq` known to exist (offered, dropped at the bound, or
    /// read from the log); at least `next - 1`.
    highest: u64,
    /// Since when the event `next` has been missing while later ones are known.
    gap_since: Option<Instant>,
    /// A log read that is due and not yet handed out; `Some(None)` is open-ended.
    due: Option<Option<u64>>,
    /// The log read handed out and not yet filled.
    asked: Option<CatchUp>,
    duplicates: u64,
    overflows: u64,
}

impl<E> Reorder<E> {
    /// A workspace whose node has delivered every event up to `delivered` (its
    /// current `event_seq`; 0 for none).
    pub fn new(delivered: u64, config: ReorderConfig) -> Self {
        Reorder {
            config,
            next: delivered + 1,
            pending: BTreeMap::new(),
            highest: delivered,
            gap_since: None,
            due: None,
            asked: None,
            duplicates: 0,
            overflows: 0,
        }
    }

    /// The last `event_seq` that came out (or that the node delivered otherwise).
    pub fn delivered(&self) -> u64 {
        self.next - 1
    }

    /// How many events wait for their turn.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// How many offered events were dropped as duplicates.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// How many times the buffer overflowed and was dropped.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Whether every known event has come out and no log read is due or outstanding.
    pub fn is_caught_up(&self) -> bool {
        self.pending.is_empty() && self.highest < self.next && self.due.is_none() && self.asked.is_none()
    }

    /// Takes an event that arrived over the bus at `now`. Events that are ready come
    /// out of [`Reorder::ready`].
    pub fn offer(&mut self, event_seq: u64, event: E, now: Instant) -> Offered {
        if event_seq < self.next || self.pending.contains_key(&event_seq) {
            self.duplicates += 1;
            return Offered::Duplicate;
        }
        self.highest = self.highest.max(event_seq);
        if event_seq != self.next && self.pending.len() >= self.config.max_pending {
            self.overflows += 1;
            self.pending.clear();
            self.widen_due(Some(self.highest));
            self.gap_since.get_or_insert(now);
            return Offered::Overflowed;
        }
        self.pending.insert(event_seq, event);
        if event_seq > self.next {
            self.gap_since.get_or_insert(now);
        }
        Offered::Accepted
    }

    /// The events that are ready, in `event_seq` order, each once. Drain it after
    /// each offer or fill.
    pub fn ready(&mut self) -> Ready<'_, E> {
        Ready { reorder: self }
    }

    /// The bus may have dropped messages (a reconnect, a slow consumer): every event
    /// after what came out must be read from the log, up to its end. Call it once
    /// the subscription is back, so that the log read and the bus overlap instead
    /// of leaving a hole between them; the overlap is dropped as duplicates.
    pub fn connection_lost(&mut self) {
        self.due = Some(None);
    }

    /// The log read to do now, if one is due (see the module doc). It is handed out
    /// once: answer it with [`Reorder::fill`], or with [`Reorder::read_failed`] to be
    /// asked again.
    pub fn take_catch_up(&mut self, now: Instant) -> Option<CatchUp> {
        if self.asked.is_some() {
            return None;
        }
        let through = match self.due.take() {
            Some(through) => through,
            None => {
                let since = self.gap_since?;
                let overdue = now.saturating_duration_since(since) >= self.config.gap_timeout
                    || self.pending.len() >= self.config.gap_events;
                if !overdue {
                    return None;
                }
                Some(self.highest)
            }
        };
        let after = self.contiguous_end();
        if through.is_some_and(|through| through <= after) {
            // Nothing is missing up to there (any more).
            return None;
        }
        let catch_up = CatchUp { after, through };
        self.asked = Some(catch_up);
        Some(catch_up)
    }

    /// The log read of `catch_up` failed: it is due again.
    pub fn read_failed(&mut self, catch_up: CatchUp) {
        if self.asked == Some(catch_up) {
            self.asked = None;
            self.widen_due(catch_up.through);
        }
    }

    /// Makes a read through `through` (`None`: to the log's end) due, on top of any
    /// read already due: the wider of the two, so that neither is lost. (An
    /// open-ended read left unfinished while an overflow made a bounded one due
    /// was once narrowed to the bounded one: the tail the bus dropped after a
    /// connection loss was never read.)
    fn widen_due(&mut self, through: Option<u64>) {
        self.due = Some(match (self.due, through) {
            (Some(None), _) | (_, None) => None,
            (Some(Some(due)), Some(through)) => Some(due.max(through)),
            (None, Some(through)) => Some(through),
        });
    }

    /// Takes what a log read for `catch_up` found, in any order, at `now`.
    /// `reached_end` says whether the read got to the end of what it was asked for
    /// (for an open-ended read: to the end of the log; a read cut at a page size
    /// did not), so that the rest is asked for next. Events the log holds are
    /// authoritative; those already delivered or held are dropped.
    ///
    /// If the log no longer holds `catch_up.after + 1` (the log was pruned past it),
    /// asking again will not help: the caller resyncs its clients and calls
    /// [`Reorder::skip_to`].
    pub fn fill(
        &mut self,
        catch_up: CatchUp,
        events: impl IntoIterator<Item = (u64, E)>,
        reached_end: bool,
        now: Instant,
    ) {
        if self.asked == Some(catch_up) {
            self.asked = None;
        }
        for (event_seq, event) in events {
            if event_seq < self.next || self.pending.contains_key(&event_seq) {
                self.duplicates += 1;
                continue;
            }
            self.highest = self.highest.max(event_seq);
            if event_seq > self.next {
                self.gap_since.get_or_insert(now);
            }
            self.pending.insert(event_seq, event);
        }
        if !reached_end {
            // The read stopped early: what is left is due at once.
            self.widen_due(catch_up.through);
        }
    }

    /// The node delivered everything up to `delivered` by another path (its own
    /// writes, or a resync after the log was pruned): nothing at or below it comes
    /// out any more.
    pub fn skip_to(&mut self, delivered: u64) {
        if delivered < self.next {
            return;
        }
        self.next = delivered + 1;
        self.highest = self.highest.max(delivered);
        self.pending = self.pending.split_off(&self.next);
        if let Some(Some(through)) = self.due
            && through <= delivered
        {
            self.due = None;
        }
        self.settle_gap();
    }

    /// The last `event_seq` held without a hole from what came out: a log read
    /// starts after it, whether or not [`Reorder::ready`] was drained.
    fn contiguous_end(&self) -> u64 {
        let mut end = self.next - 1;
        for &seq in self.pending.keys() {
            if seq != end + 1 {
                break;
            }
            end = seq;
        }
        end
    }

    /// Clears the gap's start once nothing known is missing.
    fn settle_gap(&mut self) {
        if self.next > self.highest || self.pending.first_key_value().is_some_and(|(&k, _)| k == self.next) {
            self.gap_since = None;
        }
    }
}

/// The events of a [`Reorder`] that are ready, in order; see [`Reorder::ready`].
pub struct Ready<'a, E> {
    reorder: &'a mut Reorder<E>,
}

impl<E> Iterator for Ready<'_, E> {
    type Item = (u64, E);

    fn next(&mut self) -> Option<(u64, E)> {
        let reorder = &mut *self.reorder;
        let entry = reorder.pending.first_entry().filter(|entry| *entry.key() == reorder.next);
        match entry {
            Some(entry) => {
                let event = entry.remove_entry();
                reorder.next += 1;
                reorder.settle_gap();
                Some(event)
            }
            None => {
                // Waiting behind a (new) hole keeps the earlier gap's start: the
                // log is asked early rather than late.
                reorder.settle_gap();
                None
            }
        }
    }
}

/// One [`Reorder`] per workspace, created when a workspace's first event arrives.
#[derive(Debug)]
pub struct Reorders<K, E> {
    config: ReorderConfig,
    workspaces: HashMap<K, Reorder<E>>,
}

impl<K: Eq + Hash + Copy, E> Reorders<K, E> {
    pub fn new(config: ReorderConfig) -> Self {
        Reorders { config, workspaces: HashMap::new() }
    }

    /// The workspace's reordering; `delivered` gives the node's current `event_seq`
    /// for it when it has none yet.
    pub fn workspace(&mut self, key: K, delivered: impl FnOnce() -> u64) -> &mut Reorder<E> {
        let config = self.config;
        self.workspaces.entry(key).or_insert_with(|| Reorder::new(delivered(), config))
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut Reorder<E>> {
        self.workspaces.get_mut(key)
    }

    /// Forgets a workspace (the node unloaded it: it reloads from the store).
    pub fn remove(&mut self, key: &K) -> Option<Reorder<E>> {
        self.workspaces.remove(key)
    }

    /// Every workspace may have missed events: see [`Reorder::connection_lost`].
    /// Workspaces the node does not hold need nothing: it loads them from the store.
    pub fn connection_lost(&mut self) {
        self.workspaces.values_mut().for_each(Reorder::connection_lost);
    }

    /// The log reads due now, one per workspace at most.
    pub fn take_catch_ups(&mut self, now: Instant) -> Vec<(K, CatchUp)> {
        self.workspaces
            .iter_mut()
            .filter_map(|(key, reorder)| reorder.take_catch_up(now).map(|c| (*key, c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_pending: usize, gap_events: usize) -> ReorderConfig {
        ReorderConfig { max_pending, gap_timeout: Duration::from_millis(100), gap_events }
    }

    fn drain(reorder: &mut Reorder<u64>) -> Vec<u64> {
        reorder
            .ready()
            .map(|(seq, event)| {
                assert_eq!(seq, event, "an event comes out under its own event_seq");
                seq
            })
            .collect()
    }

    /// The log: events `(after, through]`, or to `head` when open-ended.
    fn read_log(catch_up: CatchUp, head: u64) -> Vec<(u64, u64)> {
        let through = catch_up.through.unwrap_or(head).min(head);
        (catch_up.after + 1..=through).map(|s| (s, s)).collect()
    }

    #[test]
    fn in_order_events_come_out_at_once() {
        let now = Instant::now();
        let mut r = Reorder::new(0, ReorderConfig::default());
        for seq in 1..=5 {
            assert_eq!(r.offer(seq, seq, now), Offered::Accepted);
            assert_eq!(drain(&mut r), vec![seq]);
        }
        assert!(r.is_caught_up());
        assert_eq!(r.take_catch_up(now + Duration::from_secs(60)), None);
    }

    #[test]
    fn starts_after_what_the_node_delivered() {
        let now = Instant::now();
        let mut r = Reorder::new(10, ReorderConfig::default());
        assert_eq!(r.offer(9, 9, now), Offered::Duplicate);
        assert_eq!(r.offer(10, 10, now), Offered::Duplicate);
        r.offer(11, 11, now);
        assert_eq!(drain(&mut r), vec![11]);
        assert_eq!(r.duplicates(), 2);
    }

    #[test]
    fn out_of_order_events_wait_for_the_missing_one() {
        let now = Instant::now();
        let mut r = Reorder::new(0, ReorderConfig::default());
        r.offer(3, 3, now);
        r.offer(2, 2, now);
        assert!(drain(&mut r).is_empty());
        r.offer(1, 1, now);
        assert_eq!(drain(&mut r), vec![1, 2, 3]);
        assert!(r.is_caught_up());
    }

    #[test]
    fn duplicates_held_or_delivered_are_dropped() {
        let now = Instant::now();
        let mut r = Reorder::new(0, ReorderConfig::default());
        r.offer(2, 2, now);
        assert_eq!(r.offer(2, 2, now), Offered::Duplicate);
        r.offer(1, 1, now);
        assert_eq!(drain(&mut r), vec![1, 2]);
        assert_eq!(r.offer(1, 1, now), Offered::Duplicate);
        assert_eq!(r.duplicates(), 2);
    }

    #[test]
    fn a_gap_open_past_the_timeout_asks_the_log_once() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, config(100, 100));
        r.offer(1, 1, t0);
        r.offer(4, 4, t0);
        assert_eq!(drain(&mut r), vec![1]);
        assert_eq!(r.take_catch_up(t0 + Duration::from_millis(99)), None, "not yet");
        let due = r.take_catch_up(t0 + Duration::from_millis(100)).expect("due at the timeout");
        assert_eq!(due, CatchUp { after: 1, through: Some(4) });
        assert_eq!(r.take_catch_up(t0 + Duration::from_secs(5)), None, "one read at a time");
        r.fill(due, read_log(due, 4), true, t0);
        assert_eq!(drain(&mut r), vec![2, 3, 4]);
        assert!(r.is_caught_up());
    }

    #[test]
    fn a_gap_that_closes_in_time_asks_nothing() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, config(100, 100));
        r.offer(2, 2, t0);
        r.offer(1, 1, t0 + Duration::from_millis(50));
        assert_eq!(drain(&mut r), vec![1, 2]);
        assert_eq!(r.take_catch_up(t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn enough_events_behind_a_gap_ask_without_waiting() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, config(100, 3));
        for seq in 2..=3 {
            r.offer(seq, seq, t0);
        }
        assert_eq!(r.take_catch_up(t0), None);
        r.offer(4, 4, t0);
        assert_eq!(r.take_catch_up(t0), Some(CatchUp { after: 0, through: Some(4) }));
    }

    #[test]
    fn the_bound_drops_the_buffer_and_asks_through_the_highest_seen() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, config(3, 100));
        for seq in 2..=4 {
            assert_eq!(r.offer(seq, seq, t0), Offered::Accepted);
        }
        assert_eq!(r.offer(6, 6, t0), Offered::Overflowed);
        assert_eq!(r.pending_len(), 0, "the buffer is dropped");
        assert_eq!(r.overflows(), 1);
        let due = r.take_catch_up(t0).expect("due at once");
        assert_eq!(due, CatchUp { after: 0, through: Some(6) });
        // Bus events keep arriving while the log is read.
        r.offer(7, 7, t0);
        r.fill(due, read_log(due, 7), true, t0);
        assert_eq!(drain(&mut r), (1..=7).collect::<Vec<_>>());
        assert!(r.is_caught_up());
    }

    #[test]
    fn the_next_event_is_taken_even_at_the_bound() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, config(2, 100));
        r.offer(2, 2, t0);
        r.offer(3, 3, t0);
        assert_eq!(r.offer(1, 1, t0), Offered::Accepted);
        assert_eq!(drain(&mut r), vec![1, 2, 3]);
    }

    #[test]
    fn a_lost_connection_asks_for_the_whole_tail() {
        let t0 = Instant::now();
        let mut r = Reorder::new(5, ReorderConfig::default());
        r.offer(6, 6, t0);
        drain(&mut r);
        r.connection_lost();
        assert!(!r.is_caught_up());
        let due = r.take_catch_up(t0).expect("due at once");
        assert_eq!(due, CatchUp { after: 6, through: None });
        // The bus is back and overlaps the log read.
        r.offer(9, 9, t0);
        r.fill(due, read_log(due, 9), true, t0);
        assert_eq!(drain(&mut r), vec![7, 8, 9]);
        assert!(r.is_caught_up());
        assert_eq!(r.duplicates(), 1);
    }

    #[test]
    fn a_loss_during_a_read_asks_again_after_it() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, ReorderConfig::default());
        r.connection_lost();
        let first = r.take_catch_up(t0).unwrap();
        r.connection_lost();
        r.fill(first, read_log(first, 2), true, t0);
        assert_eq!(drain(&mut r), vec![1, 2]);
        assert_eq!(r.take_catch_up(t0), Some(CatchUp { after: 2, through: None }));
    }

    #[test]
    fn a_short_page_asks_for_the_rest() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, ReorderConfig::default());
        r.connection_lost();
        let due = r.take_catch_up(t0).unwrap();
        r.fill(due, (1..=3).map(|s| (s, s)), false, t0);
        assert_eq!(drain(&mut r), vec![1, 2, 3]);
        let rest = r.take_catch_up(t0).expect("the rest is due");
        assert_eq!(rest, CatchUp { after: 3, through: None });
    }

    /// An open-ended read in flight (after a lost connection) while the bus overflows
    /// the buffer, which makes a read through 7 due.
    fn open_ended_read_during_an_overflow(t0: Instant) -> (Reorder<u64>, CatchUp) {
        let mut r = Reorder::new(0, config(1, 64));
        r.connection_lost();
        let open = r.take_catch_up(t0).unwrap();
        assert_eq!(open, CatchUp { after: 0, through: None });
        assert_eq!(r.offer(5, 5, t0), Offered::Accepted);
        assert_eq!(r.offer(7, 7, t0), Offered::Overflowed);
        (r, open)
    }

    /// Found by the property below on a CI run: the open-ended read, cut at a page,
    /// went on bounded, and the events the bus dropped after the lost connection were
    /// never read.
    #[test]
    fn a_short_page_of_an_open_ended_read_stays_open_ended_past_an_overflow() {
        let t0 = Instant::now();
        let (mut r, open) = open_ended_read_during_an_overflow(t0);
        r.fill(open, [(1, 1), (2, 2)], false, t0);
        assert_eq!(drain(&mut r), vec![1, 2]);
        assert_eq!(r.take_catch_up(t0), Some(CatchUp { after: 2, through: None }));
    }

    /// The same for a failed open-ended read.
    #[test]
    fn a_failed_open_ended_read_stays_open_ended_past_an_overflow() {
        let t0 = Instant::now();
        let (mut r, open) = open_ended_read_during_an_overflow(t0);
        r.read_failed(open);
        assert_eq!(r.take_catch_up(t0), Some(open));
    }

    #[test]
    fn a_failed_read_is_asked_again() {
        let t0 = Instant::now();
        let mut r = Reorder::<u64>::new(0, ReorderConfig::default());
        r.connection_lost();
        let due = r.take_catch_up(t0).unwrap();
        assert_eq!(r.take_catch_up(t0), None);
        r.read_failed(due);
        assert_eq!(r.take_catch_up(t0), Some(due));
    }

    #[test]
    fn skip_to_drops_what_the_node_delivered_itself() {
        let t0 = Instant::now();
        let mut r = Reorder::new(0, config(100, 100));
        r.offer(3, 3, t0);
        r.offer(5, 5, t0);
        r.skip_to(3);
        assert!(drain(&mut r).is_empty(), "4 is still missing");
        r.skip_to(4);
        assert_eq!(drain(&mut r), vec![5]);
        assert!(r.is_caught_up());
        r.skip_to(2);
        assert_eq!(r.delivered(), 5, "skip_to never goes back");
    }

    #[test]
    fn reorders_keep_workspaces_apart() {
        let t0 = Instant::now();
        let mut set = Reorders::<u8, u64>::new(config(100, 100));
        set.workspace(1, || 0).offer(2, 2, t0);
        set.workspace(2, || 7).offer(8, 8, t0);
        assert_eq!(drain(set.workspace(2, || unreachable!())), vec![8]);
        assert!(drain(set.workspace(1, || unreachable!())).is_empty());
        let due = set.take_catch_ups(t0 + Duration::from_secs(1));
        assert_eq!(due, vec![(1, CatchUp { after: 0, through: Some(2) })]);
        set.connection_lost();
        assert_eq!(set.take_catch_ups(t0), vec![(2, CatchUp { after: 8, through: None })]);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// What the bus does with the events `1..=n` of one workspace.
        #[derive(Clone, Debug)]
        enum Step {
            /// Delivers the event at this position of the shuffled order.
            Deliver,
            /// Delivers it twice.
            Duplicate,
            /// Drops it; the loss is reported `report_after` steps later (NATS
            /// drops messages only across a reconnect or for a slow consumer,
            /// and reports both).
            Drop { report_after: usize },
            /// Time passes without a delivery.
            Wait,
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                6 => Just(Step::Deliver),
                1 => Just(Step::Duplicate),
                1 => (0usize..20).prop_map(|report_after| Step::Drop { report_after }),
                1 => Just(Step::Wait),
            ]
        }

        /// The events in an order close to the published one: each moves at
        /// most `spread` places, as across a reconnect or a moved lease.
        fn nearly_sorted(n: u64, spread: usize) -> impl Strategy<Value = Vec<u64>> {
            proptest::collection::vec(0..=spread, n as usize).prop_map(move |jitter| {
                let mut order: Vec<(usize, u64)> =
                    (1..=n).zip(jitter).map(|(seq, j)| (seq as usize + j, seq)).collect();
                order.sort();
                order.into_iter().map(|(_, seq)| seq).collect()
            })
        }

        /// A log read in flight: what it asked, what it read, whether that reached
        /// the end, and the tick it completes at.
        type Reading = (CatchUp, Vec<(u64, u64)>, bool, usize);

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn every_event_comes_out_once_in_order(
                order in (1u64..120, 0usize..40).prop_flat_map(|(n, spread)| nearly_sorted(n, spread)),
                steps in proptest::collection::vec(step(), 240),
                max_pending in 1usize..16,
                gap_events in 1usize..32,
                page in 1usize..50,
                delivered in 0u64..3,
                read_ticks in 0usize..4,
            ) {
                let n = order.len() as u64;
                let t0 = Instant::now();
                let config = ReorderConfig { max_pending, gap_timeout: Duration::from_millis(30), gap_events };
                let mut r = Reorder::new(delivered, config);
                let mut out = Vec::new();
                let mut losses_due: Vec<usize> = Vec::new();
                let mut now = t0;
                let mut steps = steps.into_iter().cycle();
                let mut position = 0;
                let mut tick = 0usize;
                // The log holds what was published so far: up to the highest
                // event the bus has been handed.
                let mut head = delivered.min(n);
                // A log read takes `read_ticks` ticks: the bus goes on delivering
                // meanwhile, so what it read may be stale by the time it is filled.
                let mut reading: Option<Reading> = None;
                let mut log_read = |r: &mut Reorder<u64>, now: Instant, head: u64, tick: usize, out: &mut Vec<u64>| {
                    loop {
                        if let Some((catch_up, read, reached_end, done_at)) = reading.take() {
                            if tick < done_at {
                                reading = Some((catch_up, read, reached_end, done_at));
                                return;
                            }
                            r.fill(catch_up, read, reached_end, now);
                            out.extend(drain(r));
                        }
                        let Some(catch_up) = r.take_catch_up(now) else { return };
                        let mut read = read_log(catch_up, head);
                        // Read in pages: the last page is short.
                        let reached_end = read.len() <= page;
                        read.truncate(page);
                        reading = Some((catch_up, read, reached_end, tick + read_ticks));
                    }
                };
                while position < order.len() || !losses_due.is_empty() {
                    tick += 1;
                    now += Duration::from_millis(10);
                    if losses_due.iter().any(|&at| at <= tick) {
                        losses_due.retain(|&at| at > tick);
                        r.connection_lost();
                    }
                    if position < order.len() {
                        let seq = order[position];
                        // (A run of waits ends: every event is handed over in the end.)
                        let handed = match steps.next().unwrap() {
                            Step::Wait if tick < 10 * order.len() => false,
                            Step::Deliver | Step::Wait => { r.offer(seq, seq, now); true }
                            Step::Duplicate => { r.offer(seq, seq, now); r.offer(seq, seq, now); true }
                            Step::Drop { report_after } => { losses_due.push(tick + report_after); true }
                        };
                        if handed {
                            head = head.max(seq);
                            position += 1;
                        }
                    }
                    // The next event is taken even at the bound, and comes out at once.
                    prop_assert!(r.pending_len() <= max_pending + 1);
                    out.extend(drain(&mut r));
                    prop_assert!(r.pending_len() <= max_pending);
                    log_read(&mut r, now, head, tick, &mut out);
                }
                // Quiet: the timeout passes, what is due is read.
                for _ in 0..1000 {
                    tick += 1;
                    now += Duration::from_millis(10);
                    log_read(&mut r, now, n, tick, &mut out);
                    if r.is_caught_up() {
                        break;
                    }
                }
                let expected: Vec<u64> = (delivered + 1..=n).collect();
                prop_assert_eq!(out, expected);
                prop_assert!(r.is_caught_up());
            }
        }
    }
}
