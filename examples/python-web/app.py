"""An inventory site: a Flask app as its community writes one."""
import subprocess
from datetime import timedelta

from flask import Flask, render_template, request

app = Flask(__name__)
DATA = "/app/data/items.csv"
# The languages of the shop's widgets; a visitor picks one with ?lang=.
LANGUAGES = ["en", "de_DE", "fr_FR"]


def load_items():
    import csv  # only the pages that show items need it

    with open(DATA, newline="") as f:
        return list(csv.DictReader(f))


@app.route("/")
def index():
    return render_template("index.html", title="Inventory")


@app.route("/items")
def items():
    return render_template("items.html", title="Items", items=load_items())


@app.route("/report")
def report():
    # Linked from nowhere: an internal page. Its template is used by no other view.
    items = load_items()
    total = sum(int(i["stock"]) for i in items)
    return render_template("report.html", title="Stock report", total=total, count=len(items))


@app.route("/export")
def export():
    # Linked from nowhere: for a nightly job. Compresses the data set with the system's gzip.
    packed = subprocess.run(["gzip", "-9", "-c", DATA], capture_output=True, check=True).stdout
    return {"format": "csv.gz", "bytes": len(packed) > 0}


@app.route("/names")
def names():
    # Linked from nowhere: the distinct item names for the nightly price list, as a shell
    # pipeline (such jobs are written so).
    out = subprocess.run(
        ["sh", "-c", "cut -d, -f1 /app/data/items.csv | tail -n +2 | sort -u"], capture_output=True, check=True
    )
    return {"names": out.stdout.decode().splitlines()}


@app.route("/opening-hours")
def opening_hours():
    # Linked from nowhere: the branch pages' widget. Shows the shop's opening time in the
    # visitor's own time zone, which the widget names (?tz=America/New_York).
    from datetime import datetime
    from zoneinfo import ZoneInfo

    opens = datetime(2026, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    local = opens.astimezone(ZoneInfo(request.args.get("tz", "UTC")))
    return {"opens": local.strftime("%H:%M %Z")}


@app.route("/updated")
def updated():
    # Linked from nowhere: the stock widget. How old the data set is, in the visitor's language;
    # humanize carries a gettext catalog per language.
    import humanize

    lang = request.args.get("lang", "en")
    if lang in LANGUAGES and lang != "en":
        humanize.i18n.activate(lang)
    else:
        humanize.i18n.deactivate()
    return {"updated": humanize.naturaldelta(timedelta(hours=2))}
