"""The metrics ganlab reports, and which way is better: importable without torch (configs use it)."""

# name -> higher_is_better (None: neither; closest to the real-data floor, about 1, is best).
ALL_METRICS: dict[str, bool | None] = {
    "fid": False,
    "kid": False,
    "kid_std": False,
    "classifier_score": True,
    "precision": True,
    "recall": True,
    "density": True,
    "coverage": True,
    "classes_covered": True,
    "class_kl": False,
    "memorisation": None,
}

DESCRIPTIONS: dict[str, str] = {
    "fid": "Fréchet distance of evaluator features",
    "kid": "kernel distance, mean over 100 subsets",
    "kid_std": "kernel distance, std over subsets",
    "classifier_score": "exp E KL(p(y|x) || p(y)), max 10",
    "precision": "share of samples on the real manifold (k=3)",
    "recall": "share of real images on the sample manifold (k=3)",
    "density": "real-neighbourhood hits per sample / k (k=5)",
    "coverage": "share of real images with a sample nearby (k=5)",
    "classes_covered": "classes holding >= 1/10 of their uniform share",
    "class_kl": "KL(sample class histogram || MNIST class prior)",
    "memorisation": "median NN-to-train distance, samples / test images",
}
