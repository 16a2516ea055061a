//! `stick on|match|store-request|store-response`: server persistence through a table.
