//! Market calendars (being written).
