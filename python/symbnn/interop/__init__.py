"""symbnn for other libraries' users, each behind an optional extra and imported on first use:
scikit-learn estimators (`sklearn`: `BNNRegressor`, `BNNClassifier`) and ArviZ
(`arviz`: `Posterior.to_arviz`)."""
