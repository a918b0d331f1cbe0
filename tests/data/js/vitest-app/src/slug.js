/** Lowercase words joined by hyphens, accents removed: "Crème Brûlée!" -> "creme-brulee". */
export function slugify(text, { maxLength = 60 } = {}) {
  const plain = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const words = plain.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  let slug = words.join('-');
  if (slug.length > maxLength) {
    slug = slug.slice(0, maxLength);
  }
  return slug;
}

/** Title case for headings: "the quick fox" -> "The Quick Fox". */
export function titleCase(text) {
  return text.replace(/\b\w/g, (c) => c.toUpperCase());
}
