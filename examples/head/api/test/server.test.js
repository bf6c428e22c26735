test("placeholder", () => {});
