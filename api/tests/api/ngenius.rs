//! Tests of the ngenius adapter (being written).
