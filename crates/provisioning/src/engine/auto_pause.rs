//! When the worker pauses an integration by itself (#31): the target rejected the
//! credentials on `threshold` jobs in a row with no successful call in between. A revoked or
//! rotated key otherwise makes every queued job call the target with it, again and again:
//! the log floods, the target's budget burns and the key or our address may get locked.
//! Other failures (timeouts, 5xx, 429, one user the target refuses) say nothing about the
//! key: they neither count nor reset. `Streak` is the rule, pure and unit-tested; the worker
//! counts through `Store::record_credential_outcome`, the same rule in one statement on the
//! shared database (so several workers and instances count one streak), and the store's tests
//! run these same sequences through it.

/// What one job's target calls came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobCalls {
    /// At least one call succeeded: the credentials work (at least for that).
    pub succeeded: bool,
    /// The job ended because the target rejected the credentials
    /// (`ConnectorError::Unauthorized`).
    pub rejected: bool,
}

/// Jobs in a row whose credentials were rejected, for one integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Streak {
    rejected: u32,
}

impl Streak {
    /// Takes one job's outcome; true when the integration must pause now (`threshold` 0:
    /// never). The streak starts again after a pause, so a resumed integration whose key is
    /// still wrong pauses after another `threshold` jobs, not at the first.
    pub fn record(&mut self, job: JobCalls, threshold: u32) -> bool {
        if job.succeeded {
            self.rejected = 0;
        }
        if job.rejected {
            self.rejected += 1;
        }
        if threshold > 0 && self.rejected >= threshold {
            self.rejected = 0;
            return true;
        }
        false
    }

    /// Rejected jobs in the current streak.
    pub fn rejected(&self) -> u32 {
        self.rejected
    }
}

/// The pause reason shown on the Overview and in the audit log: the target's rejection in
/// one sentence (from `connector_api::explain`, which never quotes the secret) and how often.
pub fn reason(rejection: &str, jobs: u32) -> String {
    format!("{rejection} on {jobs} jobs in a row")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REJECTED: JobCalls = JobCalls {
        succeeded: false,
        rejected: true,
    };
    const OK: JobCalls = JobCalls {
        succeeded: true,
        rejected: false,
    };
    /// A timeout, a 5xx, a 429, a refused user: no call succeeded, none was rejected.
    const OTHER: JobCalls = JobCalls {
        succeeded: false,
        rejected: false,
    };

    fn run(jobs: &[JobCalls], threshold: u32) -> Vec<bool> {
        let mut s = Streak::default();
        jobs.iter().map(|j| s.record(*j, threshold)).collect()
    }

    #[test]
    fn pauses_on_the_third_rejected_job_in_a_row() {
        assert_eq!(
            run(&[REJECTED, REJECTED, REJECTED], 3),
            [false, false, true]
        );
        // And starts counting again after the pause.
        assert_eq!(
            run(&[REJECTED, REJECTED, REJECTED, REJECTED, REJECTED], 3),
            [false, false, true, false, false]
        );
    }

    #[test]
    fn a_successful_call_in_between_starts_again() {
        assert_eq!(
            run(&[REJECTED, REJECTED, OK, REJECTED, REJECTED], 3),
            [false; 5]
        );
        // A job that created the user and was then refused a role (a key lacking one
        // permission): the key works, so the streak starts at that job.
        let partly = JobCalls {
            succeeded: true,
            rejected: true,
        };
        let mut s = Streak::default();
        assert!(!s.record(REJECTED, 3));
        assert!(!s.record(REJECTED, 3));
        assert!(!s.record(partly, 3));
        assert_eq!(s.rejected(), 1);
    }

    #[test]
    fn other_failures_never_pause_nor_reset() {
        assert_eq!(run(&[OTHER; 50], 3), [false; 50]);
        assert_eq!(
            run(&[REJECTED, OTHER, REJECTED, OTHER, OTHER, REJECTED], 3),
            [false, false, false, false, false, true]
        );
    }

    #[test]
    fn threshold_zero_never_pauses_and_one_pauses_at_once() {
        assert_eq!(run(&[REJECTED; 10], 0), [false; 10]);
        assert_eq!(run(&[REJECTED], 1), [true]);
    }

    #[test]
    fn the_reason_says_what_and_how_often() {
        assert_eq!(
            reason("ActiveCampaign rejected the API key (HTTP 403)", 3),
            "ActiveCampaign rejected the API key (HTTP 403) on 3 jobs in a row"
        );
    }
}
