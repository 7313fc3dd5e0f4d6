t_cost = 54.00
