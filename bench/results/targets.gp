t_floor = 2.7094
t_bridge = 4.2360
t_cost = 56.00
t_nat = 1.6921
