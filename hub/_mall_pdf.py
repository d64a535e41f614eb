"""The monthly report as a PDF for the mall's managers, in Bahasa Indonesia: the month's totals, a table per
service and desk, and three charts (tickets per day, waiting time against the standard per service, IKM per
service).

matplotlib draws the charts with its Agg backend (no display, safe in a server or CI); fpdf2 lays out the pages
with DejaVu Sans, which matplotlib ships, embedded (so nothing is fetched and any character prints).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display anywhere the hub runs

import matplotlib.pyplot as plt
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from matplotlib.figure import Figure

from hub._mall_figures import TOTAL, UNCALLED, FrontRow
from hub._mall_report import MallReport

__all__ = ["chart_pngs", "render_pdf"]

_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT = "DejaVu"
_CHART_WIDTH_MM = 180
_WAIT_COLOURS = ("#4c9be8", "#1f4e79")


def _minutes(seconds: int | None) -> float:
    return 0.0 if seconds is None else seconds / 60


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=110)
    plt.close(figure)
    return out.getvalue()


def _tickets_per_day(report: MallReport) -> bytes:
    rows = {row.period: row for row in report.daily.front if (row.service, row.desk) == (TOTAL, TOTAL)}
    days = [report.period.first + dt.timedelta(days=n) for n in range(report.period.last.day)]  # every day, 0 too
    figure, axes = plt.subplots(figsize=(8, 3.2))
    labels = [f"{day.day}" for day in days]
    found = [rows.get(day.isoformat()) for day in days]
    axes.bar(labels, [row.taken if row else 0 for row in found], color="#9ecae1", label="Diambil")
    axes.bar(labels, [row.served if row else 0 for row in found], color="#3182bd", width=0.5, label="Dilayani")
    axes.tick_params(axis="x", labelsize=7)
    axes.set_ylim(0, max([row.taken for row in rows.values()], default=1) * 1.3)  # room for the legend
    axes.set_title(f"Tiket per hari, {report.month} (WIB)")
    axes.set_xlabel("Tanggal")
    axes.set_ylabel("Tiket")
    axes.legend(loc="upper center", ncols=2)
    if not rows:
        axes.text(0.5, 0.5, "Belum ada tiket bulan ini", ha="center", va="center", transform=axes.transAxes)
    return _png(figure)


def _service_rows(report: MallReport) -> list[FrontRow]:
    return [row for row in report.monthly.front if row.service != TOTAL and row.desk == TOTAL]


def _waiting_against_standard(report: MallReport) -> bytes:
    rows = _service_rows(report)
    figure, axes = plt.subplots(figsize=(8, 3.2))
    positions = list(range(len(rows)))
    p50 = [_minutes(row.waiting.p50) for row in rows]
    p90 = [_minutes(row.waiting.p90) for row in rows]
    axes.bar([x - 0.2 for x in positions], p50, width=0.4, color=_WAIT_COLOURS[0], label="p50")
    axes.bar([x + 0.2 for x in positions], p90, width=0.4, color=_WAIT_COLOURS[1], label="p90")
    for x, row in zip(positions, rows, strict=True):
        if row.waiting.standard is not None:
            standard = _minutes(row.waiting.standard)
            axes.hlines(standard, x - 0.45, x + 0.45, colors="#d62728", linestyles="dashed")
    axes.plot([], [], color="#d62728", linestyle="dashed", label="Standar")
    tallest = max([*p90, *(_minutes(row.waiting.standard) for row in rows)], default=0.0)
    axes.set_ylim(0, max(tallest, 1.0) * 1.35)  # room for the legend above the bars
    axes.set_xticks(positions, [row.service for row in rows])
    axes.set_title("Waktu tunggu p50/p90 per layanan dibandingkan standar")
    axes.set_ylabel("Menit")
    axes.legend(loc="upper center", ncols=3)
    return _png(figure)


def _ikm_per_service(report: MallReport) -> bytes:
    figure, axes = plt.subplots(figsize=(8, 3.0))
    rows = [row for row in report.monthly.ikm if row.service != TOTAL and row.desk == TOTAL]
    bars = axes.bar([row.service for row in rows], [float(row.converted) for row in rows], color="#31a354")
    for bar, row in zip(bars, rows, strict=True):  # the band and the surveys behind each bar
        label = f"{row.converted} ({row.band}), n={row.respondents}"
        axes.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    axes.set_ylim(0, 110)
    axes.set_title("Indeks Kepuasan Masyarakat (IKM) per layanan")
    axes.set_ylabel("Nilai IKM (25-100)")
    if not rows:
        axes.text(0.5, 0.5, "Belum ada data survei (SKM) bulan ini", ha="center", va="center", transform=axes.transAxes)
    return _png(figure)


#: The charts, in the order the PDF shows them.
_CHARTS: tuple[Callable[[MallReport], bytes], ...] = (_tickets_per_day, _waiting_against_standard, _ikm_per_service)


def chart_pngs(report: MallReport) -> list[bytes]:
    """The report's charts as PNG images."""
    return [chart(report) for chart in _CHARTS]


def _pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font(_FONT, "", str(_FONTS / "DejaVuSans.ttf"))
    pdf.add_font(_FONT, "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_title("Laporan bulanan Mal Pelayanan Publik")
    pdf.set_creator("MPP Hub")
    return pdf


def _line(pdf: FPDF, text: str, size: float = 10, style: str = "") -> None:
    pdf.set_font(_FONT, style, size)
    pdf.cell(0, size * 0.6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _duration(seconds: int | None) -> str:
    return "-" if seconds is None else f"{seconds // 60}:{seconds % 60:02d}"


def _totals(pdf: FPDF, report: MallReport) -> None:
    total = report.total
    _line(pdf, "Laporan bulanan Mal Pelayanan Publik", 16, "B")
    _line(pdf, f"Bulan {report.month} ({report.period.first} s.d. {report.period.last}, WIB)", 11)
    pdf.ln(2)
    if total is None:
        _line(pdf, "Tidak ada tiket antrean bulan ini.")
        return
    _line(pdf, f"Tiket diambil: {total.taken}   dilayani: {total.served}   tidak hadir: {total.no_show}   "
               f"dibatalkan: {total.cancelled}")  # fmt: skip
    _line(pdf, f"Waktu tunggu p50 {_duration(total.waiting.p50)}, p90 {_duration(total.waiting.p90)} (menit:detik); "
               f"dalam standar {total.waiting.within_standard} dari {total.waiting.count}")  # fmt: skip
    for app in report.monthly.applications:
        if app.service == TOTAL:
            within = "-" if app.within_standard is None else str(app.within_standard)
            _line(pdf, f"Permohonan: {app.total}, selesai {app.finished}, selesai dalam standar {within}")
    if not report.applications_read:
        _line(pdf, "Permohonan dan pengaduan tidak dibaca untuk laporan ini.")
    for complaints in report.monthly.complaints:
        late = f"melewati batas waktu {complaints.overdue}; selesai {complaints.closed}"
        _line(pdf, f"Pengaduan: {complaints.filed}, masih terbuka {complaints.open}, {late} "
                   f"(terlambat {complaints.closed_late})")  # fmt: skip
    ikm = report.monthly.ikm_row(report.month)
    if ikm is not None:
        _line(pdf, f"IKM mal: {ikm.converted} (mutu {ikm.band}, {ikm.mutu}) dari {ikm.respondents} responden")
    else:
        _line(pdf, "IKM: belum ada survei kepuasan masyarakat bulan ini.")


_TABLE_HEAD = ("Layanan", "Loket", "Diambil", "Dilayani", "Tdk hadir", "Batal", "Tunggu p50", "Tunggu p90",
               "Std tunggu", "Dlm std", "IKM")  # fmt: skip
_TABLE_WIDTHS = (26, 15, 15, 15, 16, 12, 18, 18, 17, 15, 23)


def _cells(report: MallReport, row: FrontRow) -> tuple[str, ...]:
    service = "Semua" if row.service == TOTAL else row.service
    desk = {TOTAL: "Semua", UNCALLED: "-"}.get(row.desk, row.desk)
    wait = row.waiting
    counts = (row.taken, row.served, row.no_show, row.cancelled)
    times = (_duration(wait.p50), _duration(wait.p90), _duration(wait.standard))
    ikm = report.monthly.ikm_row(report.month, row.service, row.desk)
    index = f"{ikm.converted} ({ikm.band})" if ikm else "-"
    return (service, desk, *(str(n) for n in counts), *times, f"{wait.within_standard}/{wait.count}", index)


def _table(pdf: FPDF, report: MallReport) -> None:
    pdf.ln(3)
    _line(pdf, "Per layanan dan loket (waktu dalam menit:detik)", 12, "B")
    pdf.set_font(_FONT, "B", 7.5)
    for head, width in zip(_TABLE_HEAD, _TABLE_WIDTHS, strict=True):
        pdf.cell(width, 5, head, border=1)
    pdf.ln()
    pdf.set_font(_FONT, "", 7.5)
    for row in report.monthly.front:
        for text, width in zip(_cells(report, row), _TABLE_WIDTHS, strict=True):
            pdf.cell(width, 5, text, border=1)
        pdf.ln()


def render_pdf(report: MallReport) -> bytes:
    """The report as PDF bytes: the totals and the table, then one chart after another."""
    pdf = _pdf()
    pdf.add_page()
    _totals(pdf, report)
    _table(pdf, report)
    for png in chart_pngs(report):
        pdf.ln(4)
        pdf.image(io.BytesIO(png), w=_CHART_WIDTH_MM)
    return bytes(pdf.output())
