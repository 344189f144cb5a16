//! role-assignments' `sort`, `filter` and page parameters on arbitrary input: never panic.
#![no_main]

use latchkey::core::model::AssignmentQuery;
use latchkey::dialects::role_assignments::{parse_filter, parse_sort, window};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_sort(text);
        let _ = parse_filter(text, &mut AssignmentQuery::default());
        let mid = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
        let (a, b) = text.split_at(mid);
        let _ = window(Some(a), Some(b));
    }
});
