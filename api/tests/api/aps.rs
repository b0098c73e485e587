//! Tests of the aps adapter (being written).
