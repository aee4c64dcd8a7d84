from sklearn.tree import DecisionTreeClassifier


def train_and_predict(data):
    model = DecisionTreeClassifier(max_depth=4, random_state=0)
    model.fit(data["X_train"], data["y_train"])
    return [int(label) for label in model.predict(data["X_test"])]
