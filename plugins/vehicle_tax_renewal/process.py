"""Vehicle tax renewal (perpanjangan pajak kendaraan): the first cross-agency process.

dukcapil verifies the applicant is the owner → samsat prices the tax → the bank issues a virtual-account
bill for the exact total → the citizen pays → the bank's payment is posted to samsat → done.
The citizen may name the bank to pay at (``bank``: one of payment.create_bill's providers); else the catalogue's
default bank bills, and the bill's status is always asked of the bank that issued it.
Every agency effect is idempotent (the bill by the tracking number, the posting by the bank's payment
reference), so a step re-run after a crash never charges or posts twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from contracts import (
    ApplicationStatus,
    Bill,
    BillStatus,
    ErrorCode,
    HubError,
    IdentityCheckResult,
    PlateNumber,
    ProviderName,
    TaxPaymentReceipt,
    VehicleTax,
)
from hub import WIB, Finish, Next, Outcome, Process, ProcessContext, Wait, hookimpl

SERVICE = "vehicle-tax-renewal"
#: How long the citizen has to pay the bill.
PAY_WITHIN = dt.timedelta(hours=24)
#: How often an unpaid bill is looked at when no payment event arrives (the event usually comes first).
POLL_PAYMENT_EVERY = 30.0


class RenewalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plate: PlateNumber
    bank: ProviderName | None = Field(
        default=None,
        description="The bank the citizen pays at (a provider of payment.create_bill, as GET /v1/services lists "
        "them); unset: the hub's default bank.",
    )


def _rupiah(amount: Decimal) -> str:
    return "Rp" + f"{amount:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


def _wib(moment: dt.datetime) -> str:
    return moment.astimezone(WIB).strftime("%d-%m-%Y %H:%M WIB")


async def _tax(ctx: ProcessContext) -> VehicleTax:
    tax = await ctx.call("vehicle.tax_due", {"plate": ctx.state["plate"]})
    assert isinstance(tax, VehicleTax)
    return tax


async def verify(ctx: ProcessContext) -> Outcome:
    plate = ctx.state["plate"]
    try:
        tax = await _tax(ctx)
        check = await ctx.call(
            "identity.verify", {"nik": ctx.applicant_nik, "full_name": tax.owner_name, "threshold": 90}
        )
    except HubError as exc:
        if exc.code is not ErrorCode.NOT_FOUND:
            raise
        registry = "Samsat" if exc.error.agency == "samsat" else "Dukcapil"
        return Finish(
            ApplicationStatus.REJECTED, f"Data tidak ditemukan di {registry}; periksa nomor polisi dan NIK.",
            agency=exc.error.agency,
        )  # fmt: skip
    assert isinstance(check, IdentityCheckResult)
    if tax.owner_nik != ctx.applicant_nik or not check.matched:
        return Finish(
            ApplicationStatus.REJECTED,
            f"Pemohon bukan pemilik kendaraan {plate} menurut data Samsat dan Dukcapil; "
            "pemilik kendaraan sendiri yang dapat mengajukan perpanjangan.",
            agency="dukcapil",
        )
    return Next("price", "Identitas pemohon sesuai dengan pemilik kendaraan.", agency="dukcapil")


async def price(ctx: ProcessContext) -> Outcome:
    tax = await _tax(ctx)
    if tax.total == 0:
        return Finish(
            ApplicationStatus.DONE,
            f"Pajak kendaraan {tax.vehicle.plate} sudah lunas hingga {tax.vehicle.tax_due_date:%d-%m-%Y}.",
            agency="samsat",
        )
    return Next(
        "bill",
        f"Pajak terutang {_rupiah(tax.total)} (PKB, opsen, SWDKLLJ dan denda) untuk masa hingga "
        f"{tax.period_end:%d-%m-%Y}.",
        agency="samsat",
        details={"total": str(tax.total), "period_end": tax.period_end.isoformat()},
        state={
            "bill_code": tax.bill_code,
            "total": str(tax.total),
            "owner_name": tax.owner_name,
            "period_end": tax.period_end.isoformat(),
        },
    )


async def bill(ctx: ProcessContext) -> Outcome:
    expires_at = ctx.now + PAY_WITHIN
    request = {
        "reference": ctx.application.tracking_no,  # the bank answers the same reference with the same bill
        "amount": ctx.state["total"],
        "customer_name": ctx.state["owner_name"],
        "description": f"PKB {ctx.state['plate']}",
        "expires_at": expires_at.isoformat(),
        "provider": ctx.state.get("bank"),  # the citizen's bank; None: the hub's default bank
    }
    try:
        issued = await ctx.call("payment.create_bill", request)
    except HubError as exc:
        if exc.code is not ErrorCode.INVALID_INPUT or [issue.field for issue in exc.error.issues] != ["provider"]:
            raise
        return Finish(
            ApplicationStatus.REJECTED,
            f"Bank {ctx.state['bank']} tidak melayani pembayaran di sini; ajukan lagi dengan bank lain atau tanpa "
            "memilih bank.",
            agency="bank",
        )
    assert isinstance(issued, Bill)
    return Next(
        "await_payment",
        f"Silakan bayar {_rupiah(issued.amount)} ke virtual account {issued.virtual_account} sebelum "
        f"{_wib(issued.expires_at)}.",
        status=ApplicationStatus.AWAITING_PAYMENT,
        agency="bank",
        details={
            "virtual_account": issued.virtual_account,
            "amount": str(issued.amount),
            "pay_before": issued.expires_at.isoformat(),
            "bank": issued.bank,
        },
        state={"virtual_account": issued.virtual_account, "bank": issued.bank},
    )


async def await_payment(ctx: ProcessContext) -> Outcome:
    # The bank that issued the bill (state from before banks were named has none: the default bank, then).
    query = {"virtual_account": ctx.state["virtual_account"], "provider": ctx.state.get("bank")}
    status = await ctx.call("payment.bill_status", query)
    assert isinstance(status, Bill)
    if status.status is BillStatus.PAID and status.payment_reference and status.paid_at:
        return Next(
            "post",
            f"Pembayaran {_rupiah(status.paid_amount or status.amount)} diterima bank; dicatat ke Samsat.",
            status=ApplicationStatus.IN_PROGRESS,
            agency="bank",
            state={"payment_reference": status.payment_reference, "paid_at": status.paid_at.isoformat()},
        )
    if status.status is BillStatus.EXPIRED:
        return Finish(
            ApplicationStatus.EXPIRED,
            "Tagihan kedaluwarsa sebelum dibayar; silakan ajukan permohonan baru.",
            agency="bank",
        )
    until_expiry = (status.expires_at - ctx.now).total_seconds()
    return Wait(max(1.0, min(POLL_PAYMENT_EVERY, until_expiry + 1)))


async def post(ctx: ProcessContext) -> Outcome:
    receipt = await ctx.call(
        "vehicle.record_payment",
        {
            "plate": ctx.state["plate"],
            "bill_code": ctx.state["bill_code"],
            "amount": ctx.state["total"],
            "payment_reference": ctx.state["payment_reference"],  # samsat posts one reference once
            "paid_at": ctx.state["paid_at"],
        },
    )
    assert isinstance(receipt, TaxPaymentReceipt)
    return Finish(
        ApplicationStatus.DONE,
        f"Pajak kendaraan {receipt.plate} lunas (NTPD {receipt.receipt_number}); berlaku hingga "
        f"{receipt.new_due_date:%d-%m-%Y}. STNK dapat diambil di gerai Samsat MPP.",
        agency="samsat",
        details={"receipt_number": receipt.receipt_number, "new_due_date": receipt.new_due_date.isoformat()},
    )


@hookimpl
def mpp_hub_process() -> Process:
    return Process(
        service=SERVICE,
        title="Perpanjangan pajak kendaraan bermotor",
        params=RenewalParams,
        agencies=("dukcapil", "samsat", "bank"),
        purpose="pembayaran-pajak",
        first_step="verify",
        steps={"verify": verify, "price": price, "bill": bill, "await_payment": await_payment, "post": post},
        submitted_message="Permohonan perpanjangan pajak kendaraan diterima.",
    )
