//! Fixtures for the end-to-end tests (filled below).
