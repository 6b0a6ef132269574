//! Rate limits on the identity endpoints (registration, sign-in, refresh): per client address
//! and per Account ID, so neither one address nor a distributed attack on one set of linkage
//! details can guess quickly. Excess attempts get 429 with `Retry-After`. governor's GCRA keeps
//! one small cell per key, so memory stays bounded by the keys seen in a minute.

use crate::error::AppError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// The limiters shared by every request of one server.
#[derive(Clone)]
pub struct RateLimits {
    by_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    by_account: Arc<DefaultKeyedRateLimiter<String>>,
}

impl RateLimits {
    /// Allows the given attempts per minute per address and per Account ID (bursts up to the
    /// same numbers).
    pub fn new(per_address: u32, per_account: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            by_address: Arc::new(RateLimiter::keyed(quota(per_address))),
            by_account: Arc::new(RateLimiter::keyed(quota(per_account))),
        }
    }

    /// Counts an attempt from `address`.
    pub fn check_address(&self, address: IpAddr) -> Result<(), AppError> {
        self.by_address.check_key(&address).map_err(refuse)?;
        self.by_address.retain_recent();
        Ok(())
    }

    /// Counts an attempt on the linkage details with `account_id`, normalised as the lookup
    /// normalises it ([`crate::identity::linkage::normalise_account_id`]).
    pub fn check_account(&self, account_id: &str) -> Result<(), AppError> {
        let key = crate::identity::linkage::normalise_account_id(account_id);
        self.by_account.check_key(&key).map_err(refuse)?;
        self.by_account.retain_recent();
        Ok(())
    }
}

fn refuse(not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> AppError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    AppError::rate_limited(wait.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attempt_over_the_limit_is_refused_with_a_wait() {
        let limits = RateLimits::new(3, 3);
        let address = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            assert!(limits.check_address(address).is_ok());
        }
        let refused = limits.check_address(address).err();
        assert_eq!(
            refused.map(|e| e.code()),
            Some(crate::error::ErrorCode::RateLimited)
        );
        // Another address is not affected.
        assert!(limits.check_address(IpAddr::from([192, 0, 2, 2])).is_ok());
        for _ in 0..3 {
            assert!(limits.check_account("abcde12345").is_ok());
        }
        assert!(
            limits.check_account("ABCDE12345").is_err(),
            "account ids are case-insensitive"
        );
        assert!(
            limits.check_account(" ab cde-12 345 ").is_err(),
            "the same Account ID with spaces or hyphens inside is the same to the limit"
        );
    }
}
