//! Model sources: local folders and Hub downloads.
