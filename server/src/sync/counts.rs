//! Generations and change counts, the two numbers sync keeps per document: stored in the
//! database's signed integer columns, carried by the protocol as unsigned ones, and converted
//! here and only here. A number that does not fit is a server fault (the rows are ours), never
//! clamped to a value that looks valid.

use crate::error::AppError;

/// The generation of a synced document: 0 for the first, one more each time the document
/// starts afresh. Never negative, so it fits both its column and the protocol's `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(i32);

impl Generation {
    /// The generation as stored in a row's `generation` column.
    pub fn from_column(stored: i32) -> Result<Self, AppError> {
        if stored < 0 {
            return Err(AppError::internal(format!(
                "stored generation {stored} is negative"
            )));
        }
        Ok(Self(stored))
    }

    /// The generation as the protocol carries it.
    pub fn number(self) -> u32 {
        self.0.unsigned_abs()
    }

    /// The value of the `generation` column.
    pub fn column(self) -> i32 {
        self.0
    }

    /// The generation after this one.
    pub fn next(self) -> Result<Self, AppError> {
        self.0
            .checked_add(1)
            .map(Self)
            .ok_or_else(|| AppError::internal("the generation column is full"))
    }
}

impl TryFrom<u32> for Generation {
    type Error = AppError;

    fn try_from(number: u32) -> Result<Self, AppError> {
        i32::try_from(number)
            .map(Self)
            .map_err(|_| AppError::internal(format!("generation {number} does not fit its column")))
    }
}

/// How many automerge changes a document holds (or a write appended). Never negative, so it
/// fits both its column and a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangeCount(i32);

impl ChangeCount {
    /// The count as stored in a `change_count` column.
    pub fn from_column(stored: i32) -> Result<Self, AppError> {
        if stored < 0 {
            return Err(AppError::internal(format!(
                "stored change count {stored} is negative"
            )));
        }
        Ok(Self(stored))
    }

    /// The count of `changes`, e.g. `doc.get_changes(&[]).len()`.
    pub fn of(changes: usize) -> Result<Self, AppError> {
        i32::try_from(changes)
            .map(Self)
            .map_err(|_| AppError::internal(format!("{changes} changes do not fit a column")))
    }

    /// The value of the `change_count` column.
    pub fn column(self) -> i32 {
        self.0
    }

    /// The count as a length.
    pub fn len(self) -> usize {
        // Lossless: usize holds every u32 on the targets the server builds for.
        self.0.unsigned_abs() as usize
    }

    /// Whether there are no changes.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// This count and `more` together.
    pub fn plus(self, more: Self) -> Result<Self, AppError> {
        self.0
            .checked_add(more.0)
            .map(Self)
            .ok_or_else(|| AppError::internal("the change count column is full"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_round_trip_through_their_column_and_refuse_what_does_not_fit() {
        let generation = Generation::from_column(7).unwrap();
        assert_eq!(generation.number(), 7);
        assert_eq!(generation.next().unwrap().column(), 8);
        assert_eq!(Generation::try_from(8).unwrap(), generation.next().unwrap());
        assert!(Generation::from_column(-1).is_err());
        assert!(Generation::try_from(u32::MAX).is_err());
        assert!(Generation::from_column(i32::MAX).unwrap().next().is_err());
    }

    #[test]
    fn change_counts_add_up_and_refuse_what_does_not_fit() {
        let count = ChangeCount::of(40)
            .unwrap()
            .plus(ChangeCount::of(2).unwrap());
        assert_eq!(count.unwrap().column(), 42);
        assert_eq!(ChangeCount::from_column(42).unwrap().len(), 42);
        assert!(ChangeCount::from_column(-3).is_err());
        assert!(ChangeCount::of(usize::MAX).is_err());
        let full = ChangeCount::from_column(i32::MAX).unwrap();
        assert!(full.plus(ChangeCount::of(1).unwrap()).is_err());
    }
}
