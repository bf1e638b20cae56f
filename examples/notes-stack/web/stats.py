"""Statistics over the notes, for GET /stats."""
import statistics


def summary(rows):
    words = [len((title + " " + body).split()) for title, body in rows]
    return {
        "notes": len(rows),
        "words": sum(words),
        "median_words": statistics.median(words) if words else 0,
        "longest_title": max((title for title, _ in rows), key=len, default=""),
    }
