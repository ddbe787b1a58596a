//! Who may see an order looked up by its number (pure): a guest's order by
//! the lookup token of its confirmation link; a registered customer's order
//! only by that customer, signed in, token or not.
//!
//! The token is 32 random bytes in hex (64 characters), made at capture;
//! the order keeps its sha256, compared in constant time.

use mercato_tenants::CustomerId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A lookup token as sent, checked for shape.
pub struct LookupToken(String);

impl LookupToken {
    /// `None` unless 64 hex characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the order keeps.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// Whether this is the token of the order that keeps `stored`, in
    /// constant time.
    pub fn matches(&self, stored: Option<&[u8]>) -> bool {
        stored.is_some_and(|s| bool::from(self.sha256().as_slice().ct_eq(s)))
    }
}

/// The order's page in the confirmation mail.
pub fn confirmation_path(number: i64, token: &LookupToken) -> String {
    format!("/api/orders/{number}?token={}", token.as_str())
}

/// What a lookup shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The order.
    Show,
    /// A registered customer's order with its right token but without that
    /// customer's session: `401`, sign in.
    SignIn,
    /// `404`, whether or not the order exists.
    Hidden,
}

/// The access of a lookup of an order placed by `owner` (`None`: a guest),
/// by a request signed in as `signed_in`, whose token matches or not.
pub fn access(
    owner: Option<CustomerId>,
    signed_in: Option<CustomerId>,
    token_matches: bool,
) -> Access {
    match owner {
        Some(owner) if signed_in == Some(owner) => Access::Show,
        Some(_) if token_matches => Access::SignIn,
        Some(_) => Access::Hidden,
        None if token_matches => Access::Show,
        None => Access::Hidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn token(c: char) -> LookupToken {
        LookupToken::parse(&c.to_string().repeat(64)).expect("token")
    }

    #[test]
    fn tokens_have_one_shape_and_match_only_their_hash() {
        assert!(LookupToken::parse("abc").is_none());
        assert!(LookupToken::parse(&"g".repeat(64)).is_none());
        let t = token('a');
        assert!(t.matches(Some(&t.sha256())));
        assert!(!token('b').matches(Some(&t.sha256())));
        assert!(!t.matches(None));
        assert!(!t.matches(Some(&t.sha256()[..31])));
        assert_eq!(
            confirmation_path(1001, &t),
            format!("/api/orders/1001?token={}", "a".repeat(64))
        );
    }

    proptest! {
        /// A registered customer's order is shown to that customer only,
        /// token or not; a guest's only with its token.
        #[test]
        fn a_customers_order_is_shown_only_to_that_customer(
            owner in proptest::option::of(0u8..3),
            signed_in in proptest::option::of(0u8..3),
            token_matches: bool,
        ) {
            let ids: Vec<CustomerId> = (0..3).map(|_| CustomerId::new()).collect();
            let owner = owner.map(|i| ids[usize::from(i)]);
            let signed_in = signed_in.map(|i| ids[usize::from(i)]);
            let shown = access(owner, signed_in, token_matches) == Access::Show;
            match owner {
                Some(o) => prop_assert_eq!(shown, signed_in == Some(o)),
                None => prop_assert_eq!(shown, token_matches),
            }
        }
    }
}
