"""Market forecast: the shop's net sales by week or month, forecast by the method that a rolling-origin
backtest finds best, with 80%/95% bands no narrower than the backtest's misses.

series (the sales series from a log), candidates (the methods), backtest (how each did), choose (the
step: ``forecast_sales``) and parts (breakdowns that add up to the total).
"""

from lib.models.forecast.choose import ForecastResult, ForecastSettings, forecast_sales, parse_horizon

__all__ = ["ForecastResult", "ForecastSettings", "forecast_sales", "parse_horizon"]
