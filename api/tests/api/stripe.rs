//! Tests of the stripe adapter (being written).
