"""`import --format aws-cur | focus | azure-costs`: only the generative-AI rows, exact totals, replace rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from spendwatch.errors import InputFileError

from .conftest import write_csv, write_parquet

# ------------------------------------------------------------------------------------------- AWS CUR 2.0
CUR_COLUMNS = ["identity_line_item_id", "identity_time_interval", "bill_billing_period_start_date",
               "bill_payer_account_id", "line_item_usage_account_id", "line_item_line_item_type",
               "line_item_product_code", "line_item_usage_type", "line_item_operation", "line_item_resource_id",
               "line_item_usage_start_date", "line_item_usage_end_date", "line_item_usage_amount", "pricing_unit",
               "line_item_unblended_rate", "line_item_unblended_cost", "line_item_net_unblended_cost",
               "line_item_currency_code", "line_item_iam_principal", "product", "resource_tags"]


def cur_line(i, payer, kind, code, usage_type, hour, amount, unit, cost, day=1, principal=""):
    start = f"2026-11-{day:02d}T{hour:02d}:00:00Z"
    end = f"2026-11-{day:02d}T{hour + 1:02d}:00:00Z"
    return {"identity_line_item_id": f"li-{day}-{i}", "identity_time_interval": f"{start}/{end}",
            "bill_billing_period_start_date": "2026-11-01T00:00:00Z", "bill_payer_account_id": payer,
            "line_item_usage_account_id": "222233334444", "line_item_line_item_type": kind,
            "line_item_product_code": code, "line_item_usage_type": usage_type, "line_item_operation": "InvokeModel",
            "line_item_resource_id": "", "line_item_usage_start_date": start, "line_item_usage_end_date": end,
            "line_item_usage_amount": amount, "pricing_unit": unit, "line_item_unblended_rate": "",
            "line_item_unblended_cost": cost, "line_item_net_unblended_cost": cost, "line_item_currency_code": "USD",
            "line_item_iam_principal": principal,
            "product": '{"product_name": "%s", "region": "us-east-1"}' % (
                "Amazon Bedrock" if code == "AmazonBedrock" else code), "resource_tags": "{}"}


def cur(payer="111122223333", day=1, scale=1):
    s = Decimal(scale)
    return [
        cur_line(1, payer, "Usage", "AmazonBedrock", "USE1-Claude4.5Sonnet-input-tokens", 10, "1500", "1K tokens",
                 str(Decimal("4.5") * s), day, "arn:aws:iam::222233334444:role/app"),
        cur_line(2, payer, "Usage", "AmazonBedrock", "USE1-Claude4.5Sonnet-output-tokens", 10, "100", "1K tokens",
                 str(Decimal("1.5") * s), day),
        cur_line(3, payer, "Usage", "AmazonBedrock", "USE1-Claude4.5Sonnet-cache-read-input-token-count", 11, "200",
                 "1K tokens", str(Decimal("0.06") * s), day),
        cur_line(4, payer, "Usage", "AmazonBedrock", "USE1-Claude4.5Sonnet-cache-write-input-token-count", 11, "40",
                 "1K tokens", str(Decimal("0.15") * s), day),
        cur_line(5, payer, "Usage", "AmazonEC2", "BoxUsage:m5.large", 11, "1", "Hrs", "0.096", day),
        cur_line(6, payer, "Credit", "AmazonBedrock", "USE1-Claude4.5Sonnet-input-tokens", 12, "0", "", "-1.25", day),
        cur_line(7, payer, "Tax", "AmazonBedrock", "", 12, "0", "", "0.41", day),
        cur_line(8, payer, "Usage", "AmazonS3", "TimedStorage-ByteHrs", 12, "5", "GB-Mo", "0.12", day),
    ]


@pytest.mark.parametrize("container", ["csv.gz", "parquet"])
def test_cur_bedrock_only_exact(imp, tmp_path, container):
    f = tmp_path / f"cur.{container}"
    (write_csv(f, cur(), CUR_COLUMNS) if container == "csv.gz" else write_parquet(f, cur()))
    [res] = imp("aws-cur", f)
    assert res.rows == 6
    n, cost, inp, cached, cw, out = imp.totals()
    assert cost == Decimal("4.5") + Decimal("1.5") + Decimal("0.06") + Decimal("0.15") - Decimal("1.25") + Decimal("0.41")
    assert (inp, cached, cw, out) == (1_500_000 + 200_000 + 40_000, 200_000, 40_000, 100_000)
    assert imp.one("SELECT provider, model, account_id, project_id, user_id, covers_usage FROM records "
                   "WHERE line_item = 'USE1-Claude4.5Sonnet-input-tokens'") == \
        ("bedrock", "claude4.5sonnet", "111122223333", "222233334444", "arn:aws:iam::222233334444:role/app", True)
    assert imp.query("SELECT line_item, cost_usd, covers_usage FROM records WHERE NOT covers_usage ORDER BY 1") == [
        ("Credit: USE1-Claude4.5Sonnet-input-tokens", Decimal("-1.25"), False), ("Tax", Decimal("0.41"), False)]


def test_cur_redelivery_replaces_per_payer(imp, tmp_path):
    imp("aws-cur", write_csv(tmp_path / "a.csv", cur(), CUR_COLUMNS))
    imp("aws-cur", write_csv(tmp_path / "b.csv", cur(payer="999988887777"), CUR_COLUMNS))
    snap = imp.snapshot()
    imp("aws-cur", tmp_path / "a.csv")
    assert imp.snapshot() == snap
    imp("aws-cur", write_csv(tmp_path / "a2.csv", cur(scale=2), CUR_COLUMNS))
    assert imp.totals("account_id = '111122223333'")[1] == 2 * Decimal("6.21") - Decimal("1.25") + Decimal("0.41")
    assert imp.totals("account_id = '999988887777'")[1] == Decimal("5.37")


def test_cur_bad_amount(imp, tmp_path):
    rows = cur()
    rows[1]["line_item_usage_amount"] = "1,5"
    f = write_csv(tmp_path / "cur.csv", rows, CUR_COLUMNS)
    with pytest.raises(InputFileError) as e:
        imp("aws-cur", f)
    assert str(e.value) == f'{f}:3: column line_item_usage_amount: not a number ("1,5")'


# ------------------------------------------------------------------------------------------------ FOCUS
FOCUS_COLUMNS = ["BilledCost", "EffectiveCost", "ListCost", "BillingAccountId", "BillingAccountName",
                 "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
                 "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ConsumedQuantity",
                 "ConsumedUnit", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "InvoiceIssuerName",
                 "RegionId", "ServiceName", "ServiceCategory", "ServiceSubcategory", "SkuId", "SkuMeter",
                 "SubAccountId", "SubAccountName", "Tags"]


def focus_row(account, category, desc, qty, unit, provider, service, cat, sub, meter, sub_account, cost, day=1):
    return {"BilledCost": cost, "EffectiveCost": cost, "ListCost": cost, "BillingAccountId": account,
            "BillingAccountName": "Acme", "BillingCurrency": "USD", "BillingPeriodStart": "2026-11-01T00:00:00Z",
            "BillingPeriodEnd": "2026-12-01T00:00:00Z", "ChargePeriodStart": f"2026-11-{day:02d}T00:00:00Z",
            "ChargePeriodEnd": f"2026-11-{day + 1:02d}T00:00:00Z", "ChargeCategory": category, "ChargeClass": "",
            "ChargeDescription": desc, "ChargeFrequency": "Usage-Based", "ConsumedQuantity": qty, "ConsumedUnit": unit,
            "PricingQuantity": qty, "PricingUnit": unit, "ProviderName": provider, "PublisherName": provider,
            "InvoiceIssuerName": provider, "RegionId": "us-east-1", "ServiceName": service, "ServiceCategory": cat,
            "ServiceSubcategory": sub, "SkuId": "sku1", "SkuMeter": meter, "SubAccountId": sub_account,
            "SubAccountName": "team", "Tags": "{}"}


def focus(account="acct-1", day=1):
    ai = ("AI and Machine Learning", "Generative AI")
    return [
        focus_row(account, "Usage", "Claude Sonnet 4.5 input tokens", "400", "1K Tokens", "AWS", "Amazon Bedrock",
                  *ai, "Claude Sonnet 4.5 Input Tokens", "sub-1", "1.2", day),
        focus_row(account, "Usage", "Claude Sonnet 4.5 output tokens", "20", "1K Tokens", "AWS", "Amazon Bedrock",
                  *ai, "Claude Sonnet 4.5 Output Tokens", "sub-1", "0.3", day),
        focus_row(account, "Usage", "gpt-4.1 cached input tokens", "1000000", "Tokens", "Microsoft", "Azure OpenAI",
                  *ai, "gpt-4.1 Cached Input Tokens", "sub-2", "0.5", day),
        focus_row(account, "Usage", "Gemini 2.5 Flash output", "2", "1M Tokens", "Google Cloud", "Vertex AI",
                  "AI and Machine Learning", "", "Gemini 2.5 Flash Output Tokens", "proj-a", "5", day),
        focus_row(account, "Usage", "m5.large", "24", "Hours", "AWS", "Amazon EC2", "Compute", "Virtual Machines",
                  "BoxUsage", "sub-1", "2.30", day),
        focus_row(account, "Usage", "SageMaker training", "2", "Hours", "AWS", "Amazon SageMaker",
                  "AI and Machine Learning", "Machine Learning", "ml.m5.xlarge", "sub-1", "0.92", day),
        focus_row(account, "Credit", "Promotional credit", "", "", "AWS", "Amazon Bedrock", *ai, "", "sub-1", "-0.5", day),
    ]


def test_focus_ai_rows_exact(imp, tmp_path):
    [res] = imp("focus", write_csv(tmp_path / "focus.csv", focus(), FOCUS_COLUMNS))
    assert res.rows == 5
    n, cost, inp, cached, _cw, out = imp.totals()
    assert cost == Decimal("1.2") + Decimal("0.3") + Decimal("0.5") + Decimal("5") - Decimal("0.5")
    assert (inp, cached, out) == (400_000 + 1_000_000, 1_000_000, 20_000 + 2_000_000)
    assert imp.query("SELECT provider, model, project_id, covers_usage FROM records ORDER BY cost_usd") == [
        ("bedrock", None, "sub-1", False), ("bedrock", "claude-sonnet-4.5", "sub-1", True),
        ("azure-openai", "gpt-4.1", "sub-2", True), ("bedrock", "claude-sonnet-4.5", "sub-1", True),
        ("vertex-ai", "gemini-2.5-flash", "proj-a", True)]
    assert imp.one("SELECT line_item, granularity FROM records WHERE cost_usd < 0") == ("Credit: Promotional credit", "day")


def test_focus_parquet_twice_and_overlap(imp, tmp_path):
    imp("focus", write_parquet(tmp_path / "f1.parquet", focus() + focus(day=2)))
    snap = imp.snapshot()
    imp("focus", tmp_path / "f1.parquet")
    assert imp.snapshot() == snap
    # a re-issued file for day 2..3 replaces day 2 and adds day 3
    imp("focus", write_parquet(tmp_path / "f2.parquet", focus(day=2) + focus(day=3)))
    assert imp.totals()[1] == 3 * Decimal("6.5") and imp.totals()[0] == 15


# ------------------------------------------------------------------------------------------------- Azure
AZ_COLUMNS = ["billingAccountId", "billingProfileId", "invoiceSectionId", "subscriptionId", "subscriptionName",
              "resourceGroupName", "resourceId", "resourceLocation", "date", "serviceFamily", "consumedService",
              "meterCategory", "meterSubCategory", "meterName", "meterId", "productName", "quantity", "unitOfMeasure",
              "effectivePrice", "unitPrice", "costInBillingCurrency", "costInPricingCurrency", "costInUsd",
              "billingCurrency", "pricingCurrency", "chargeType", "pricingModel", "tags"]


def az_row(date, svc, cat, sub, meter, product, qty, unit, cost, account="ba-1", charge="Usage", res="my-aoai"):
    return {"billingAccountId": account, "billingProfileId": "bp", "invoiceSectionId": "is", "subscriptionId": "sub-1",
            "subscriptionName": "prod", "resourceGroupName": "rg-ai",
            "resourceId": f"/subscriptions/sub-1/resourceGroups/rg-ai/providers/{svc}/accounts/{res}",
            "resourceLocation": "eastus", "date": date, "serviceFamily": "AI + Machine Learning", "consumedService": svc,
            "meterCategory": cat, "meterSubCategory": sub, "meterName": meter, "meterId": "m", "productName": product,
            "quantity": qty, "unitOfMeasure": unit, "effectivePrice": "", "unitPrice": "",
            "costInBillingCurrency": str(Decimal(cost) * Decimal("0.92")), "costInPricingCurrency": cost,
            "costInUsd": cost, "billingCurrency": "EUR", "pricingCurrency": "USD", "chargeType": charge,
            "pricingModel": "OnDemand", "tags": '{"team": "search"}'}


def azure(day="11/01/2026", account="ba-1"):
    cs = "Microsoft.CognitiveServices"
    return [
        az_row(day, cs, "Cognitive Services", "Azure OpenAI", "gpt-4.1-Inp-glbl Tokens", "Azure OpenAI", "1500", "1K", "3.0", account),
        az_row(day, cs, "Cognitive Services", "Azure OpenAI", "gpt-4.1-Outp-glbl Tokens", "Azure OpenAI", "100", "1K", "0.8", account),
        az_row(day, cs, "Cognitive Services", "Azure OpenAI", "gpt-4.1-cchd-Inp-glbl Tokens", "Azure OpenAI", "500", "1K", "0.25", account),
        az_row(day, cs, "Cognitive Services", "Speech", "S1 Speech To Text", "Speech Services", "10", "1 Hour", "1.0", account),
        az_row(day, "Microsoft.Compute", "Virtual Machines", "Dv3", "D2 v3", "VM", "24", "1 Hour", "2.0", account, res="vm1"),
        az_row(day, cs, "Cognitive Services", "Azure OpenAI", "gpt-4.1-Inp-glbl Tokens", "Azure OpenAI", "0", "1K", "-0.4",
               account, charge="Refund"),
    ]


def test_azure_openai_rows_exact(imp, tmp_path):
    [res] = imp("azure-costs", write_csv(tmp_path / "az.csv", azure(), AZ_COLUMNS))
    assert res.rows == 4
    n, cost, inp, cached, _cw, out = imp.totals()
    assert cost == Decimal("3.0") + Decimal("0.8") + Decimal("0.25") - Decimal("0.4")
    assert (inp, cached, out) == (1_500_000 + 500_000, 500_000, 100_000)
    assert imp.one("SELECT provider, model, account_id, project_id, workspace_id, currency, granularity FROM records "
                   "WHERE line_item = 'gpt-4.1-Outp-glbl Tokens'") == \
        ("azure-openai", "gpt-4.1", "ba-1", "sub-1", "my-aoai", "USD", "day")
    assert imp.one("SELECT line_item, covers_usage FROM records WHERE cost_usd < 0") == \
        ("Refund: gpt-4.1-Inp-glbl Tokens", False)


def test_azure_ea_pascal_case_iso_dates_billing_currency(imp, tmp_path):
    rows = [{"BillingAccountId": "ea-1", "SubscriptionId": "s", "Date": "2026-11-01", "ConsumedService":
             "Microsoft.CognitiveServices", "MeterCategory": "Cognitive Services", "MeterSubCategory": "Azure OpenAI",
             "MeterName": "gpt-4o-mini-0718-Outp-regnl Tokens", "ProductName": "Azure OpenAI", "Quantity": "2",
             "UnitOfMeasure": "1M", "CostInBillingCurrency": "1.10", "BillingCurrencyCode": "EUR", "ChargeType": "Usage",
             "ResourceId": "/x/accounts/aoai-ea"}]
    imp("azure-costs", write_csv(tmp_path / "ea.csv", rows))
    assert imp.one("SELECT model, output_tokens, cost_usd, currency, ts::DATE::VARCHAR FROM records") == \
        ("gpt-4o-mini-0718", 2_000_000, Decimal("1.10"), "EUR", "2026-11-01")


def test_azure_twice_and_reissue_whole_days(imp, tmp_path):
    imp("azure-costs", write_csv(tmp_path / "a.csv", azure() + azure("11/02/2026"), AZ_COLUMNS))
    imp("azure-costs", write_csv(tmp_path / "b.csv", azure(account="ba-2"), AZ_COLUMNS))
    snap = imp.snapshot()
    imp("azure-costs", tmp_path / "a.csv")
    assert imp.snapshot() == snap
    imp("azure-costs", write_csv(tmp_path / "c.csv", azure("11/02/2026") + azure("11/03/2026"), AZ_COLUMNS))
    assert imp.totals("account_id = 'ba-1'")[:2] == (12, 3 * Decimal("3.65"))
    assert imp.totals("account_id = 'ba-2'")[:2] == (4, Decimal("3.65"))


def test_azure_bad_date(imp, tmp_path):
    rows = azure()
    rows[3]["date"] = "not checked: a Speech row is not kept"
    rows[5]["date"] = "31/31/2026"
    f = write_csv(tmp_path / "az.csv", rows, AZ_COLUMNS)
    with pytest.raises(InputFileError) as e:
        imp("azure-costs", f)
    assert str(e.value) == f'{f}:7: column date: not a date ("31/31/2026")'


def test_azure_date_beyond_the_time_bound_names_its_line(imp, tmp_path):
    """Found by the fuzz suite: the diagnosis of a failed import ran the import's strict expressions (they
    raise error() on a bad value) inside try(), which DuckDB refuses, so the user got "TRY can not be used
    in combination with a volatile function" instead of the line."""
    rows = azure()
    rows[1]["date"] = "-infinity"
    f = write_csv(tmp_path / "az.csv", rows, AZ_COLUMNS)
    with pytest.raises(InputFileError) as e:
        imp("azure-costs", f)
    assert str(e.value) == (f'{f}:3: ts computed from this line: outside the supported time range '
                            '(2000-01-01 to 2100-01-01) ("-infinity")')
