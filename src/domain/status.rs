//! Account status codes (SPEC §1) and sets of them, as the `status` filter
//! and the catalog's per-status partitions use them.

/// One of the seven account status codes, by its position in [`Status::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(u8);

impl Status {
    /// Every code SPEC §1 defines, in ascending order.
    pub const CODES: [&'static str; 7] = ["1000", "1002", "1004", "1010", "1012", "1014", "1026"];
    pub const COUNT: usize = Self::CODES.len();
    /// 1000, active: the default of the `status` filter.
    pub const ACTIVE: Status = Status(0);
    /// 1002, pending, and 1012, blocked: a PATCH may not change them (SPEC §6).
    pub const PENDING: Status = Status(1);
    pub const BLOCKED: Status = Status(4);
    /// Every status, in code order.
    pub const ALL: [Status; Self::COUNT] = [
        Status(0),
        Status(1),
        Status(2),
        Status(3),
        Status(4),
        Status(5),
        Status(6),
    ];

    pub fn parse(code: &str) -> Option<Self> {
        Self::CODES
            .iter()
            .position(|known| *known == code)
            .map(|i| Status(i as u8))
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The status at `index` of [`Status::CODES`], if there is one.
    pub fn from_index(index: u8) -> Option<Self> {
        (usize::from(index) < Self::COUNT).then_some(Status(index))
    }

    pub fn code(self) -> &'static str {
        Self::CODES[self.index()]
    }

    /// The code as a number, the form the database stores.
    pub fn number(self) -> i64 {
        self.code().parse().expect("status codes are digits")
    }

    pub fn from_number(number: i64) -> Option<Self> {
        Self::parse(&number.to_string())
    }
}

/// A non-empty set of statuses, as `status=1000&status=1002` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSet(u8);

impl StatusSet {
    pub fn only(status: Status) -> Self {
        StatusSet(1 << status.0)
    }

    pub fn with(self, status: Status) -> Self {
        StatusSet(self.0 | 1 << status.0)
    }

    pub fn contains(self, status: Status) -> bool {
        self.0 & (1 << status.0) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Status> {
        (0..Status::COUNT as u8).map(Status).filter(move |s| self.contains(*s))
    }
}

impl StatusSet {
    /// Every status.
    pub fn all() -> Self {
        StatusSet((1 << Status::COUNT) - 1)
    }
}

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet::only(Status::ACTIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in Status::CODES {
            let status = Status::parse(code).unwrap();
            assert_eq!(status.code(), code);
            assert_eq!(Status::from_number(status.number()), Some(status));
        }
        assert_eq!(Status::parse("1001"), None);
        assert_eq!(Status::parse(" 1000"), None);
        let named = [Status::ACTIVE, Status::PENDING, Status::BLOCKED].map(Status::code);
        assert_eq!(named, ["1000", "1002", "1012"]);
    }

    #[test]
    fn sets() {
        let set = StatusSet::only(Status::parse("1026").unwrap()).with(Status::ACTIVE);
        let codes: Vec<_> = set.iter().map(Status::code).collect();
        assert_eq!(codes, ["1000", "1026"]);
        assert!(!set.contains(Status::parse("1002").unwrap()));
    }
}
