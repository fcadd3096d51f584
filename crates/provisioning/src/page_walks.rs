//! Clients walking a list page by page (an IdP's import, `startIndex` 1, 101, 201, …) get
//! each next page from where the last one ended instead of skipping `startIndex - 1` rows
//! again, and the total counted for the first page instead of a COUNT per page: a walk over
//! n rows then costs O(n) instead of O(n²).
//!
//! A walk is remembered only while nothing in its integration has been written through this
//! directory since its last page was read, so a page answers exactly what OFFSET paging would:
//! every user or group write bumps the integration's generation and a remembered walk of an
//! older generation is not used. Another instance's writes are not seen here; for them a walk
//! is trusted for at most [`WALK_TTL`]. Within that time its total may lag by their writes
//! (RFC 7644 §3.4.2.4 does not promise a stable total across pages), while continuing after
//! the last row stays correct: a row created meanwhile sorts last, and a row deleted before
//! the continuation point no longer shifts the following pages.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use store::scim::RowKey;

/// How long a remembered walk is trusted without a write through this directory.
pub const WALK_TTL: Duration = Duration::from_secs(10);
/// Remembered walks at most; past it the expired ones go, and if all are live, all go.
const MAX_WALKS: usize = 4096;

/// Which list a walk pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listing {
    Users,
    Groups,
}

/// The list a client walks: an integration's users or groups, with its filter as the client
/// wrote it (in creation order: a `sortBy` walk is not remembered).
#[derive(Debug, Clone, Copy)]
pub struct ListWalk<'a> {
    pub integration_id: &'a str,
    pub listing: Listing,
    pub filter: Option<&'a str>,
}

impl ListWalk<'_> {
    fn at(&self, offset: u64) -> WalkAt {
        WalkAt {
            integration_id: self.integration_id.to_string(),
            listing: self.listing,
            filter: self.filter.map(str::to_string),
            offset,
        }
    }
}

/// One walk's position: the list and the offset of the page that continues it. Concurrent
/// walks of the same list sit at different offsets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WalkAt {
    integration_id: String,
    listing: Listing,
    filter: Option<String>,
    offset: u64,
}

#[derive(Debug, Clone)]
struct Walk {
    generation: u64,
    after: RowKey,
    total: u64,
    read_at: Instant,
}

/// Where a remembered walk continues: after `after`, with `total` rows in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    pub after: RowKey,
    pub total: u64,
}

#[derive(Default)]
struct State {
    generations: HashMap<String, u64>,
    walks: HashMap<WalkAt, Walk>,
}

/// The integration's write generation in `generations` (0 before its first write).
fn generation_of(generations: &HashMap<String, u64>, integration_id: &str) -> u64 {
    generations.get(integration_id).copied().unwrap_or(0)
}

/// The walks in progress, per integration (see the module docs).
#[derive(Default)]
pub struct PageWalks {
    state: Mutex<State>,
    resumed: AtomicU64,
}

impl PageWalks {
    /// The integration's write generation; read it before the page's query and hand it to
    /// [`PageWalks::remember`], so a write that lands during the query voids the walk.
    pub fn generation(&self, integration_id: &str) -> u64 {
        self.state
            .lock()
            .map(|s| generation_of(&s.generations, integration_id))
            .unwrap_or(0)
    }

    /// Records that the integration's users or groups were written (after the write commits).
    pub fn written(&self, integration_id: &str) {
        if let Ok(mut s) = self.state.lock() {
            // The integration's walks now have an old generation: never used again, and
            // dropped when the map is full.
            // (Looked up by `&str` first: this runs on every SCIM write.)
            match s.generations.get_mut(integration_id) {
                Some(g) => *g += 1,
                None => {
                    s.generations.insert(integration_id.to_string(), 1);
                }
            }
        }
    }

    /// The continuation of `walk` whose next page starts at `offset`, if one is remembered,
    /// nothing was written since and it is fresh at `now`.
    pub fn resume(&self, walk: &ListWalk<'_>, offset: u64, now: Instant) -> Option<Continuation> {
        if offset == 0 {
            return None;
        }
        let s = self.state.lock().ok()?;
        let remembered = s.walks.get(&walk.at(offset))?;
        let generation = generation_of(&s.generations, walk.integration_id);
        let fresh = remembered.generation == generation
            && now.saturating_duration_since(remembered.read_at) < WALK_TTL;
        if !fresh {
            return None;
        }
        self.resumed.fetch_add(1, Ordering::Relaxed);
        Some(Continuation {
            after: remembered.after.clone(),
            total: remembered.total,
        })
    }

    /// How many pages continued a remembered walk so far.
    pub fn resumed(&self) -> u64 {
        self.resumed.load(Ordering::Relaxed)
    }

    /// Remembers that a full page of `walk`, read at `generation`, ended where `next`
    /// continues, so the page at `next_offset` can start there.
    pub fn remember(
        &self,
        walk: &ListWalk<'_>,
        generation: u64,
        next_offset: u64,
        next: Continuation,
        now: Instant,
    ) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if generation_of(&s.generations, walk.integration_id) != generation {
            return; // written during the read: the page may not match the rows any more
        }
        if s.walks.len() >= MAX_WALKS {
            let State { generations, walks } = &mut *s;
            walks.retain(|at, w| {
                now.saturating_duration_since(w.read_at) < WALK_TTL
                    && generation_of(generations, &at.integration_id) == w.generation
            });
            if walks.len() >= MAX_WALKS {
                walks.clear();
            }
        }
        s.walks.insert(
            walk.at(next_offset),
            Walk {
                generation,
                after: next.after,
                total: next.total,
                read_at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users_of(integration_id: &str) -> ListWalk<'_> {
        ListWalk {
            integration_id,
            listing: Listing::Users,
            filter: None,
        }
    }

    fn after(id: &str, total: u64) -> Continuation {
        Continuation {
            after: RowKey {
                created_at: 7,
                id: id.to_string(),
            },
            total,
        }
    }

    /// Remembers that the page of `integration`'s users at 0..100 ended at `u100` (of 250).
    fn remember_page(w: &PageWalks, integration: &str, generation: u64, now: Instant) {
        w.remember(
            &users_of(integration),
            generation,
            100,
            after("u100", 250),
            now,
        );
    }

    #[test]
    fn the_next_page_continues_after_the_last_row_with_the_counted_total() {
        let w = PageWalks::default();
        let t0 = Instant::now();
        remember_page(&w, "i1", w.generation("i1"), t0);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            w.resume(&users_of("i1"), 100, later),
            Some(after("u100", 250))
        );
        // Another offset, list, filter or integration is another walk.
        assert_eq!(w.resume(&users_of("i1"), 101, t0), None);
        let groups = ListWalk {
            listing: Listing::Groups,
            ..users_of("i1")
        };
        assert_eq!(w.resume(&groups, 100, t0), None);
        let filtered = ListWalk {
            filter: Some("active eq true"),
            ..users_of("i1")
        };
        assert_eq!(w.resume(&filtered, 100, t0), None);
        assert_eq!(w.resume(&users_of("i2"), 100, t0), None);
    }

    #[test]
    fn a_write_or_time_ends_a_walk() {
        let w = PageWalks::default();
        let t0 = Instant::now();
        remember_page(&w, "i1", w.generation("i1"), t0);
        remember_page(&w, "i2", w.generation("i2"), t0);
        w.written("i1");
        assert_eq!(w.resume(&users_of("i1"), 100, t0), None);
        assert!(
            w.resume(&users_of("i2"), 100, t0).is_some(),
            "a write elsewhere leaves the walk alone"
        );
        assert_eq!(w.resume(&users_of("i2"), 100, t0 + WALK_TTL), None);
    }

    #[test]
    fn a_page_read_while_a_write_landed_is_not_remembered() {
        let w = PageWalks::default();
        let t0 = Instant::now();
        let before_the_query = w.generation("i1");
        w.written("i1");
        remember_page(&w, "i1", before_the_query, t0);
        assert_eq!(w.resume(&users_of("i1"), 100, t0), None);
    }

    #[test]
    fn the_first_page_is_never_a_continuation_and_the_walks_stay_bounded() {
        let w = PageWalks::default();
        let t0 = Instant::now();
        w.remember(&users_of("i1"), 0, 0, after("x", 1), t0);
        assert_eq!(w.resume(&users_of("i1"), 0, t0), None);
        for n in 0..(MAX_WALKS as u64 + 10) {
            w.remember(&users_of("i1"), 0, n + 1, after("x", 1), t0);
        }
        let remembered = w.state.lock().map(|s| s.walks.len()).unwrap_or(usize::MAX);
        assert!(remembered <= MAX_WALKS, "{remembered} walks remembered");
        assert!(
            w.resume(&users_of("i1"), MAX_WALKS as u64 + 10, t0)
                .is_some(),
            "the newest walk survives"
        );
    }
}
