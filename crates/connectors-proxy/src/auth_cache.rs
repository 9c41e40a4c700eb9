//! Short-lived memory of authentication and authorisation answers, keyed by
//! a SHA-256 hash of the token (the token itself is never stored).
//!
//! * identities: until the token expires or `identity_ttl` passes, whichever
//!   comes first;
//! * rejected tokens: `deny_ttl` (a short negative cache, so a client
//!   retrying a bad token does not reach the catalog on every request);
//! * decisions per (token, connector, verb, subresource): `allow_ttl` for an
//!   allow, `deny_ttl` for a denial, never past the token's expiry.
//!
//! Both maps are bounded; when one is full, expired entries are dropped and,
//! if that is not enough, the map is emptied (the next requests ask the
//! catalog again).

use crate::clock;
use crate::metrics::CacheCounters;
use connectors_catalog::{AccessCheck, Identity};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// SHA-256 of a token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenHash([u8; 32]);

impl TokenHash {
    pub(crate) fn of(token: &str) -> TokenHash {
        let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        TokenHash(out)
    }
}

impl Hash for TokenHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: the first 8 bytes are enough.
        state.write(&self.0[..8]);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// Counters of the caches, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Identity lookups answered from memory.
    pub identity_hits: u64,
    /// Identity lookups that asked the catalog.
    pub identity_misses: u64,
    /// Permission lookups answered from memory.
    pub decision_hits: u64,
    /// Permission lookups that asked the catalog.
    pub decision_misses: u64,
    /// Entries currently held (identities + decisions).
    pub entries: u64,
}

/// Lifetimes and size of the caches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CacheLimits {
    pub(crate) identity_ttl: Duration,
    pub(crate) allow_ttl: Duration,
    pub(crate) deny_ttl: Duration,
    pub(crate) max_entries: usize,
}

#[derive(Clone)]
struct DecisionKey {
    token: TokenHash,
    check: AccessCheck,
}

/// A permission check seen through borrows, so that a lookup makes no
/// owned copy of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckRef<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    pub(crate) verb: &'a str,
    pub(crate) subresource: Option<&'a str>,
}

impl<'a> CheckRef<'a> {
    /// `get` on the Connector itself.
    pub(crate) fn get(namespace: &'a str, name: &'a str) -> CheckRef<'a> {
        CheckRef {
            namespace,
            name,
            verb: "get",
            subresource: None,
        }
    }

    pub(crate) fn of(check: &'a AccessCheck) -> CheckRef<'a> {
        CheckRef {
            namespace: &check.namespace,
            name: &check.name,
            verb: &check.verb,
            subresource: check.subresource.as_deref(),
        }
    }

    pub(crate) fn owned(self) -> AccessCheck {
        AccessCheck {
            namespace: self.namespace.to_string(),
            name: self.name.to_string(),
            verb: self.verb.to_string(),
            subresource: self.subresource.map(str::to_string),
        }
    }
}

/// A decision key, owned or borrowed; both hash and compare alike.
trait DecisionQuery {
    fn token(&self) -> &TokenHash;
    fn check(&self) -> CheckRef<'_>;
}

impl DecisionQuery for DecisionKey {
    fn token(&self) -> &TokenHash {
        &self.token
    }
    fn check(&self) -> CheckRef<'_> {
        CheckRef::of(&self.check)
    }
}

/// A borrowed decision key, for lookups.
struct DecisionRef<'a> {
    token: &'a TokenHash,
    check: CheckRef<'a>,
}

impl DecisionQuery for DecisionRef<'_> {
    fn token(&self) -> &TokenHash {
        self.token
    }
    fn check(&self) -> CheckRef<'_> {
        self.check
    }
}

impl<'a> Borrow<dyn DecisionQuery + 'a> for DecisionKey {
    fn borrow(&self) -> &(dyn DecisionQuery + 'a) {
        self
    }
}

impl Hash for dyn DecisionQuery + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.token().hash(state);
        let c = self.check();
        c.namespace.hash(state);
        c.name.hash(state);
        c.verb.hash(state);
        c.subresource.hash(state);
    }
}

impl PartialEq for dyn DecisionQuery + '_ {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.check(), other.check());
        self.token() == other.token()
            && a.namespace == b.namespace
            && a.name == b.name
            && a.verb == b.verb
            && a.subresource == b.subresource
    }
}

impl Eq for dyn DecisionQuery + '_ {}

impl PartialEq for DecisionKey {
    fn eq(&self, other: &Self) -> bool {
        (self as &dyn DecisionQuery) == (other as &dyn DecisionQuery)
    }
}

impl Eq for DecisionKey {}

impl Hash for DecisionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn DecisionQuery).hash(state);
    }
}

/// A cached decision: `Ok(())` allowed, `Err(reason)` denied.
pub(crate) type CachedDecision = Result<(), Arc<str>>;

struct Entry<T> {
    value: T,
    until: Instant,
}

/// A remembered identity: who the token belongs to, or why it was refused.
pub(crate) type CachedIdentity = Result<Arc<Identity>, Arc<str>>;

pub(crate) struct AuthCache {
    limits: CacheLimits,
    identities: RwLock<HashMap<TokenHash, Entry<CachedIdentity>>>,
    decisions: RwLock<HashMap<DecisionKey, Entry<CachedDecision>>>,
    counters: CacheCounters,
}

impl AuthCache {
    pub(crate) fn new(limits: CacheLimits, counters: CacheCounters) -> AuthCache {
        AuthCache {
            limits,
            identities: RwLock::new(HashMap::new()),
            decisions: RwLock::new(HashMap::new()),
            counters,
        }
    }

    /// A remembered identity (or rejection) for this token, if still fresh.
    pub(crate) fn identity(&self, token: &TokenHash) -> Option<CachedIdentity> {
        let now = clock::coarse();
        let hit = read(&self.identities)
            .get(token)
            .filter(|e| e.until > now)
            .map(|e| e.value.clone());
        if hit.is_some() {
            self.counters.identity_hits.inc();
        } else {
            self.counters.identity_misses.inc();
        }
        hit
    }

    /// Remembers that the catalog refused this token, for `deny_ttl`.
    pub(crate) fn put_rejected(&self, token: TokenHash, reason: &str) {
        if self.limits.deny_ttl.is_zero() {
            return;
        }
        insert(
            &self.identities,
            token,
            Entry {
                value: Err(Arc::from(reason)),
                until: clock::coarse() + self.limits.deny_ttl,
            },
            self.limits.max_entries,
        );
    }

    /// Remembers an identity; returns it shared.
    pub(crate) fn put_identity(&self, token: TokenHash, identity: Identity) -> Arc<Identity> {
        let until = bounded(
            clock::coarse(),
            self.limits.identity_ttl,
            identity.expires_at,
        );
        let identity = Arc::new(identity);
        if let Some(until) = until {
            insert(
                &self.identities,
                token,
                Entry {
                    value: Ok(identity.clone()),
                    until,
                },
                self.limits.max_entries,
            );
        }
        identity
    }

    /// A remembered decision, if still fresh.
    pub(crate) fn decision(
        &self,
        token: &TokenHash,
        check: CheckRef<'_>,
    ) -> Option<CachedDecision> {
        let now = clock::coarse();
        let key = DecisionRef { token, check };
        let hit = read(&self.decisions)
            .get(&key as &dyn DecisionQuery)
            .filter(|e| e.until > now)
            .map(|e| e.value.clone());
        if hit.is_some() {
            self.counters.decision_hits.inc();
        } else {
            self.counters.decision_misses.inc();
        }
        hit
    }

    /// Remembers a decision for at most the allow/deny TTL and never past
    /// the identity's expiry.
    pub(crate) fn put_decision(
        &self,
        token: TokenHash,
        identity: &Identity,
        check: AccessCheck,
        decision: CachedDecision,
    ) {
        let ttl = if decision.is_ok() {
            self.limits.allow_ttl
        } else {
            self.limits.deny_ttl
        };
        if let Some(until) = bounded(clock::coarse(), ttl, identity.expires_at) {
            insert(
                &self.decisions,
                DecisionKey { token, check },
                Entry {
                    value: decision,
                    until,
                },
                self.limits.max_entries,
            );
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            identity_hits: self.counters.identity_hits.get(),
            identity_misses: self.counters.identity_misses.get(),
            decision_hits: self.counters.decision_hits.get(),
            decision_misses: self.counters.decision_misses.get(),
            entries: (read(&self.identities).len() + read(&self.decisions).len()) as u64,
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

/// `now + ttl`, cut at the token's expiry; `None` when nothing may be kept.
/// `now` is the coarse clock, which may be off by a tick either way: the
/// cut comes [`clock::MARGIN`] early, so a cached identity never outlives
/// its token.
fn bounded(now: Instant, ttl: Duration, expires_at: Option<SystemTime>) -> Option<Instant> {
    let mut keep = ttl;
    if let Some(exp) = expires_at {
        let left = exp
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(clock::MARGIN);
        keep = keep.min(left);
    }
    (!keep.is_zero()).then(|| now + keep)
}

fn insert<K: Hash + Eq, V>(
    lock: &RwLock<HashMap<K, Entry<V>>>,
    key: K,
    entry: Entry<V>,
    max: usize,
) {
    let mut map = lock.write().unwrap_or_else(|p| p.into_inner());
    if map.len() >= max && !map.contains_key(&key) {
        let now = clock::coarse();
        map.retain(|_, e| e.until > now);
        if map.len() >= max {
            map.clear();
        }
    }
    map.insert(key, entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> CacheLimits {
        CacheLimits {
            identity_ttl: Duration::from_secs(10),
            allow_ttl: Duration::from_secs(10),
            deny_ttl: Duration::from_secs(2),
            max_entries: 3,
        }
    }

    fn ident(exp: Option<SystemTime>) -> Identity {
        Identity::service_account_identity("ns", "sa", "uid", exp)
    }

    #[test]
    fn identities_hit_and_expire_with_token() {
        let c = AuthCache::new(limits(), CacheCounters::default());
        let t = TokenHash::of("a");
        assert!(c.identity(&t).is_none());
        c.put_identity(t, ident(None));
        assert!(c.identity(&t).is_some());
        let t2 = TokenHash::of("b");
        c.put_identity(t2, ident(Some(SystemTime::now() - Duration::from_secs(1))));
        assert!(c.identity(&t2).is_none(), "expired tokens are not kept");
        let s = c.stats();
        assert_eq!((s.identity_hits, s.identity_misses), (1, 2));
        let bad = TokenHash::of("bad");
        c.put_rejected(bad, "unknown token");
        assert_eq!(
            c.identity(&bad).unwrap().unwrap_err().as_ref(),
            "unknown token"
        );
    }

    #[test]
    fn the_token_expiry_cuts_the_ttl_short() {
        let c = AuthCache::new(limits(), CacheCounters::default());
        let t = TokenHash::of("short-lived");
        // Long enough that a test thread held up on a busy machine still
        // finds the entry before the expiry.
        let id = ident(Some(SystemTime::now() + Duration::from_millis(1500)));
        c.put_identity(t, id.clone());
        let check = AccessCheck::get("ns", "c1");
        c.put_decision(t, &id, check.clone(), Ok(()));
        assert!(c.identity(&t).is_some());
        assert_eq!(c.decision(&t, CheckRef::of(&check)), Some(Ok(())));
        std::thread::sleep(Duration::from_millis(1600));
        assert!(c.identity(&t).is_none(), "kept past the token's expiry");
        assert_eq!(c.decision(&t, CheckRef::of(&check)), None);
    }

    #[test]
    fn a_token_expiring_within_the_clock_margin_is_not_kept() {
        let c = AuthCache::new(limits(), CacheCounters::default());
        let t = TokenHash::of("about-to-expire");
        let id = ident(Some(SystemTime::now() + clock::MARGIN / 2));
        c.put_identity(t, id);
        assert!(c.identity(&t).is_none());
    }

    #[test]
    fn rejections_are_kept_for_the_short_deny_ttl_only() {
        let mut l = limits();
        l.deny_ttl = Duration::from_millis(1000);
        let c = AuthCache::new(l, CacheCounters::default());
        let bad = TokenHash::of("forged");
        c.put_rejected(bad, "unknown token");
        assert!(c.identity(&bad).is_some_and(|r| r.is_err()));
        std::thread::sleep(Duration::from_millis(1100));
        assert!(c.identity(&bad).is_none());
        l.deny_ttl = Duration::ZERO;
        let c = AuthCache::new(l, CacheCounters::default());
        c.put_rejected(bad, "unknown token");
        assert!(c.identity(&bad).is_none(), "a zero deny TTL keeps nothing");
    }

    #[test]
    fn decisions_are_per_check_and_bounded() {
        let c = AuthCache::new(limits(), CacheCounters::default());
        let t = TokenHash::of("a");
        let id = ident(None);
        let check = AccessCheck::get("ns", "c1");
        c.put_decision(t, &id, check.clone(), Ok(()));
        assert_eq!(c.decision(&t, CheckRef::of(&check)), Some(Ok(())));
        assert_eq!(c.decision(&t, CheckRef::get("ns", "c2")), None);
        assert_eq!(c.decision(&TokenHash::of("b"), CheckRef::of(&check)), None);
        for i in 0..10 {
            c.put_decision(
                t,
                &id,
                AccessCheck::get("ns", &format!("x{i}")),
                Err("no".into()),
            );
        }
        assert!(c.stats().entries <= 3);
    }

    #[test]
    fn hash_debug_is_short() {
        let s = format!("{:?}", TokenHash::of("secret-token"));
        assert!(!s.contains("secret"));
        assert!(s.len() < 24);
    }
}
