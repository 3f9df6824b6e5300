//! What a Slack message says, read from the sandbox's record of it: tests check the words a
//! reader sees, wherever Block Kit puts them.

use shipline_sandbox::slack::Message;

/// Every text of a message's blocks (section texts, fields, context elements), in order,
/// joined by newlines: a reader sees them all, so a test looks for a part anywhere among them
/// rather than at one block's index, which a layout change would move.
pub fn block_text(message: &Message) -> String {
    let mut out = Vec::new();
    for block in message.blocks.as_array().unwrap() {
        out.extend(block["text"]["text"].as_str().map(str::to_string));
        for field in block["fields"].as_array().into_iter().flatten() {
            out.extend(field["text"].as_str().map(str::to_string));
        }
        for element in block["elements"].as_array().into_iter().flatten() {
            out.extend(element["text"].as_str().map(str::to_string));
        }
    }
    out.join("\n")
}
