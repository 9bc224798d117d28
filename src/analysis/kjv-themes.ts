// "Themes" for the bundled KJV corpus (resources/corpus/kjv): each document is one chapter whose
// first line is its title ("2 Kings 3"), so every token knows its book, and the books fall into
// six sections of roughly comparable size in the held-out split. Other corpora have no themes.

export const KJV_SECTIONS = ['Law', 'History', 'Wisdom', 'Prophets', 'Gospels & Acts', 'Epistles & Revelation'] as const

// Book names as the corpus's title lines spell them, section by section.
const BOOKS: Record<(typeof KJV_SECTIONS)[number], string> = {
  Law: 'Genesis|Exodus|Leviticus|Numbers|Deuteronomy',
  History: 'Joshua|Judges|Ruth|1 Samuel|2 Samuel|1 Kings|2 Kings|1 Chronicles|2 Chronicles|Ezra|Nehemiah|Esther',
  Wisdom: 'Job|Psalms|Proverbs|Ecclesiastes|Song of Solomon',
  Prophets:
    'Isaiah|Jeremiah|Lamentations|Ezekiel|Daniel|Hosea|Joel|Amos|Obadiah|Jonah|Micah|Nahum|Habakkuk|Zephaniah|Haggai|Zechariah|Malachi',
  'Gospels & Acts': 'Matthew|Mark|Luke|John|Acts',
  'Epistles & Revelation':
    'Romans|1 Corinthians|2 Corinthians|Galatians|Ephesians|Philippians|Colossians|1 Thessalonians|2 Thessalonians|1 Timothy|' +
    '2 Timothy|Titus|Philemon|Hebrews|James|1 Peter|2 Peter|1 John|2 John|3 John|Jude|Revelation',
}

const SECTION_OF = new Map<string, number>(
  KJV_SECTIONS.flatMap((section, i) => BOOKS[section].split('|').map((book) => [book, i] as [string, number])),
)

/** The section index of a KJV chapter from its document text ("Psalms 23\nThe LORD is…"), or null. */
export function kjvSection(documentText: string): number | null {
  const end = documentText.indexOf('\n')
  const title = (end < 0 ? documentText : documentText.slice(0, end)).trim()
  const match = /^(.+?) (\d+)$/.exec(title)
  return match ? (SECTION_OF.get(match[1] as string) ?? null) : null
}
