"""Selecting words from TF-IDF text with input_l1
===============================================

Text is where selecting features through the input weights matters most: tens of
thousands of columns, almost all of them noise. ``TfidfVectorizer`` gives a sparse
matrix; :class:`~sksparse_nn.SparseMLPClassifier` trains on it without densifying
it, and ``input_l1`` (a group lasso on each word's outgoing weights) drives whole
words to exactly zero. The words the network kept are then the vocabulary it reads.

No text corpus ships with scikit-learn (its loaders download), so the corpus is
generated: three topics, each with five planted words, in documents of common
filler words drawn from a Zipf-like distribution over 3,000 words. A good
selection keeps the planted words and few others. The example prints the words
the network kept, how many of them were planted, and the held-out accuracy.

Run: ``python examples/text_feature_selection.py [--fast] [--out-dir DIR]``
"""

# %%
# A corpus with planted words
# ---------------------------
import argparse
import os
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sksparse_nn import SparseMLPClassifier

TOPICS = {
    "sport": ["match", "goal", "league", "coach", "striker"],
    "finance": ["market", "shares", "investor", "dividend", "bond"],
    "cooking": ["recipe", "oven", "flour", "simmer", "garlic"],
}


def make_corpus(n_docs, n_filler=3000, doc_len=40, n_planted=3, seed=0):
    """Documents of filler words with ``n_planted`` words of their topic mixed in;
    one document in ten also carries a planted word of another topic."""
    rng = np.random.RandomState(seed)
    filler = np.array([f"w{i:04d}" for i in range(n_filler)])
    zipf = 1.0 / np.arange(1, n_filler + 1)
    zipf /= zipf.sum()
    names = sorted(TOPICS)
    docs, labels = [], []
    for i in range(n_docs):
        topic = names[i % len(names)]
        words = list(rng.choice(filler, doc_len, p=zipf))
        words += list(rng.choice(TOPICS[topic], n_planted))
        if rng.rand() < 0.1:
            other = names[(names.index(topic) + 1 + rng.randint(2)) % len(names)]
            words.append(rng.choice(TOPICS[other]))
        rng.shuffle(words)
        docs.append(" ".join(words))
        labels.append(topic)
    return docs, np.array(labels)


def main(fast=False, out_dir=None, input_l1=0.003):
    docs, labels = make_corpus(600 if fast else 3000)
    d_train, d_test, y_train, y_test = train_test_split(
        docs, labels, test_size=0.25, random_state=0, stratify=labels)

    # %%
    # TF-IDF -> sparse MLP with an input group lasso
    # ----------------------------------------------
    # The TF-IDF matrix stays sparse all the way: each mini-batch is multiplied as
    # a sparse matrix, and prediction reads only the columns of the kept words.
    model = make_pipeline(
        TfidfVectorizer(),
        SparseMLPClassifier((32,), input_l1=input_l1, max_iter=30 if fast else 60,
                            batch_size=50, learning_rate_init=1e-2, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fixed epoch budget
        model.fit(d_train, y_train)
    vectorizer, net = model[0], model[-1]
    vocabulary = vectorizer.get_feature_names_out()
    kept = vocabulary[net.feature_importances_ > 0]
    order = np.argsort(-net.feature_importances_[net.feature_importances_ > 0])
    kept = [str(w) for w in kept[order]]
    planted = {w for words in TOPICS.values() for w in words}
    accuracy = model.score(d_test, y_test)

    # %%
    # The words the network kept
    # --------------------------
    print(f"vocabulary: {len(vocabulary):,} words; the network reads {len(kept)} of them")
    print("kept (most important first):", ", ".join(kept))
    print(f"planted words kept: {len(planted & set(kept))} of {len(planted)}; "
          f"other words kept: {len(set(kept) - planted)}")
    print(f"held-out accuracy: {accuracy:.3f}")

    if out_dir is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(out_dir, exist_ok=True)
        imp = net.feature_importances_[net.feature_importances_ > 0][order]
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(kept) + 1))
        ax.barh(kept[::-1], imp[::-1],
                color=["C0" if w in planted else "C3" for w in kept[::-1]])
        ax.set_xlabel("feature importance (blue: planted word)")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "kept_words.png"))
        plt.close(fig)
    return {"kept": kept, "planted": sorted(planted), "accuracy": accuracy,
            "n_vocabulary": len(vocabulary)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Selecting words from TF-IDF text with input_l1.")
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args()
    main(fast=args.fast, out_dir=args.out_dir)
