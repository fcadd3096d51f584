//! Targets whose user list has no paging (Pipedrive's `GET /users`, Brevo's invited users)
//! answer the whole list to every request, while an import asks page by page. [`WholeList`]
//! keeps one answer for the pages that follow it, so one pass costs one request (Pipedrive
//! counts 20 tokens per list, Brevo spends one of 100 requests an hour), not one per page.

use crate::{Page, Result};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One kept answer of an unpaged list.
#[derive(Debug)]
pub struct WholeList<T> {
    kept: Mutex<Option<(Instant, Arc<Vec<T>>)>>,
    /// How long a kept answer serves later pages.
    ttl: Duration,
}

impl<T> WholeList<T> {
    /// Keeps an answer for `ttl` (a pass over a few thousand users takes well under it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            kept: Mutex::new(None),
            ttl,
        }
    }

    /// The page at `offset` (`limit` items) of the list `fetch` reads. A new pass (`offset`
    /// 0), or a later page with no answer kept younger than the ttl (a resumed import), reads
    /// it afresh; the pages after it are served from that answer. `now` is a parameter so
    /// the keeping is unit-tested.
    pub async fn page<F, Fut>(
        &self,
        offset: u64,
        limit: u64,
        now: Instant,
        fetch: F,
    ) -> Result<Page<T>>
    where
        T: Clone,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<T>>>,
    {
        let kept = if offset == 0 {
            None
        } else {
            self.kept
                .lock()
                .ok()
                .and_then(|k| k.clone())
                .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
                .map(|(_, list)| list)
        };
        let list = match kept {
            Some(list) => list,
            None => {
                let list = Arc::new(fetch().await?);
                if let Ok(mut k) = self.kept.lock() {
                    *k = Some((now, Arc::clone(&list)));
                }
                list
            }
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(Page {
            items: list.iter().skip(start).take(take).cloned().collect(),
            total: list.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn one_fetch_serves_a_pass_and_a_new_pass_or_an_old_answer_fetches_again() {
        let list = WholeList::new(Duration::from_secs(300));
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok((0..250).collect::<Vec<u32>>())
        };
        let t0 = Instant::now();
        let mut seen = Vec::new();
        for offset in [0, 100, 200] {
            let p = list.page(offset, 100, t0, fetch).await.unwrap();
            assert_eq!(p.total, 250);
            seen.extend(p.items);
        }
        assert_eq!(seen, (0..250).collect::<Vec<_>>());
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "one request for the pass"
        );
        // A new pass reads afresh.
        list.page(0, 100, t0, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A later page after the ttl (a resumed import, hours later) reads afresh too.
        let p = list
            .page(200, 100, t0 + Duration::from_secs(301), fetch)
            .await
            .unwrap();
        assert_eq!(p.items.len(), 50);
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_fetch_keeps_nothing() {
        let list: WholeList<u32> = WholeList::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let err = list
            .page(0, 10, t0, || async {
                Err(crate::ConnectorError::Transient("down".into()))
            })
            .await;
        assert!(err.is_err());
        let p = list
            .page(10, 10, t0, || async { Ok(vec![1; 15]) })
            .await
            .unwrap();
        assert_eq!((p.items.len(), p.total), (5, 15));
    }
}
