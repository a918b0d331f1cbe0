/** Cents from a price string: "12.30" -> 1230. */
function toCents(text) {
  return Math.round(parseFloat(text) * 100);
}

/** The total of line items [{ price: "1.10", quantity: 3 }] in cents. */
function total(items) {
  return items.reduce((sum, item) => sum + toCents(item.price) * item.quantity, 0);
}

/** A price string from cents: 1230 -> "12.30". */
function format(cents) {
  return (cents / 100).toString();
}

module.exports = { toCents, total, format };
