//! One module per page.

pub mod account;
pub mod approval_link;
pub mod audit;
pub mod dashboard;
pub mod detections;
pub mod graph;
pub mod inbox;
pub mod integrations;
pub mod login;
pub mod message;
pub mod report;
pub mod response;
pub mod second_factor;
pub mod tenant;
pub mod users;
